import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into problem+json: framework errors get their Backend.AI kind, database outages a 503,
/// and anything else a logged 500 whose body says nothing about the internals.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = ManagerRequestContext
    let maxBodySize: Int

    public init(maxBodySize: Int) {
        self.maxBodySize = maxBodySize
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            var response = try await next(request, context)
            response.headers[.requestID] = context.id
            return response
        } catch let error as APIError {
            if error.status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(error)"])
            }
            throw Self.tagged(error, id: context.id)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: throw Self.tagged(.routeNotFound(request.uri.path), id: context.id)
            case .methodNotAllowed: throw Self.tagged(.methodNotAllowed(request.method.rawValue), id: context.id)
            case .contentTooLarge: throw Self.tagged(.tooLarge(limit: self.maxBodySize), id: context.id)
            case let status where status.code < 500:
                throw Self.tagged(
                    APIError(status: status, kind: "invalid-api-params", title: "Missing or invalid API parameters.",
                             msg: error.body ?? status.reasonPhrase), id: context.id)
            default:
                context.logger.error("request failed", metadata: ["error": "\(error)"])
                throw Self.tagged(.internalError(requestID: context.id), id: context.id)
            }
        } catch let error as PostgresError where error.isConnectionLoss || error.code == .poolTimeout || error.code == .poolClosed {
            context.logger.warning("database unavailable", metadata: ["error": "\(error)"])
            throw Self.tagged(.serviceUnavailable("The database is unavailable; retry shortly."), id: context.id)
        } catch let error as PostgresError where error.code == .invalidText {
            // A value PostgreSQL cannot store (a NUL character, a date or number out of its range): the input's
            // fault. Routes name the field where they can; this is the net under every one of them.
            context.logger.notice("value refused by the database", metadata: ["error": "\(error)"])
            throw Self.tagged(.invalidAPIParams(
                "A value in the request cannot be stored (a NUL character, or a date or number out of range)."), id: context.id)
        } catch let error as BlockingExecutor.Saturated {
            context.logger.warning("blocking executor full", metadata: ["error": "\(error)"])
            throw Self.tagged(.serviceUnavailable("The server is busy with file operations; retry shortly."), id: context.id)
        } catch is CancellationError {
            throw Self.tagged(.serviceUnavailable("The server is shutting down."), id: context.id)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            throw Self.tagged(.internalError(requestID: context.id), id: context.id)
        }
    }

    private static func tagged(_ error: APIError, id: String) -> APIError {
        var error = error
        error.headers[.requestID] = id
        return error
    }
}
