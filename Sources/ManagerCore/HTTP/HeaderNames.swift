import HTTPTypes

extension HTTPField.Name {
    /// Our request id, echoed on every response.
    static let requestID = HTTPField.Name("X-Request-ID")!
    /// The negotiated API version, part of the signed text.
    static let backendAIVersion = HTTPField.Name("X-BackendAI-Version")!
    /// The fallback for `Date` that the Backend.AI manager accepts.
    static let backendAIDate = HTTPField.Name("X-BackendAI-Date")!
}
