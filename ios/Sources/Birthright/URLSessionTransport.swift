import BirthrightFFI
import Foundation

/// The core's sync and enrolment over URLSession. The core calls `send` on its own (background)
/// thread and blocks until the answer arrives; timeouts suit 2G, and the core retries failures
/// with back-off, resending the identical sealed batch.
public final class URLSessionTransport: Transport {
    private let baseURL: URL
    private let session: URLSession

    public init(baseURL: URL, session: URLSession? = nil) {
        self.baseURL = baseURL
        if let session {
            self.session = session
        } else {
            let config = URLSessionConfiguration.ephemeral
            config.timeoutIntervalForRequest = 90
            config.waitsForConnectivity = false
            self.session = URLSession(configuration: config)
        }
    }

    public func send(request: HttpRequest) throws -> HttpResponse {
        // Appended, not resolved: a registry under a path (https://host/births) keeps its path.
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + request.path) else {
            throw TransportError.Failed(reason: "bad path \(request.path)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method == .post ? "POST" : "GET"
        if request.method == .post {
            urlRequest.httpBody = request.body
        }
        if let contentType = request.contentType {
            urlRequest.setValue(contentType, forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        var result: Result<HttpResponse, Error> = .failure(TransportError.Failed(reason: "no answer"))
        session.dataTask(with: urlRequest) { data, response, error in
            defer { done.signal() }
            if let error {
                result = .failure(TransportError.Failed(reason: error.localizedDescription))
                return
            }
            guard let http = response as? HTTPURLResponse else {
                result = .failure(TransportError.Failed(reason: "not an HTTP answer"))
                return
            }
            let retryAfter = (http.value(forHTTPHeaderField: "Retry-After")).flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            result = .success(HttpResponse(status: UInt16(http.statusCode), retryAfterSecs: retryAfter, body: data ?? Data()))
        }.resume()
        done.wait()
        return try result.get()
    }
}
