import HTTPTypes

extension HTTPField.Name {
    /// Our request id, echoed on every response.
    static let requestID = HTTPField.Name("X-Request-ID")!
    /// The negotiated API version, part of the signed text.
    static let backendAIVersion = HTTPField.Name("X-BackendAI-Version")!
    /// The fallback for `Date` that the Backend.AI manager accepts.
    static let backendAIDate = HTTPField.Name("X-BackendAI-Date")!
    /// Backend.AI's rate-limit headers, on every signed response.
    static let rateLimitLimit = HTTPField.Name("X-RateLimit-Limit")!
    static let rateLimitRemaining = HTTPField.Name("X-RateLimit-Remaining")!
    static let rateLimitWindow = HTTPField.Name("X-RateLimit-Window")!
    /// The web view's CSRF token, on every state-changing request it makes (`WebRoutes`).
    static let csrfToken = HTTPField.Name("X-CSRF-Token")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let crossOriginOpenerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!
}
