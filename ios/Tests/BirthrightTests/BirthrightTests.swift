import Birthright
import XCTest

final class BirthrightTests: XCTestCase {
    private func newDevice() throws -> Device {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        var key = Data(count: 32)
        _ = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        return try Device.create(path: path, storageKey: key)
    }

    func testCaptureWithCyrillicNamesAndSearch() throws {
        let device = try newDevice()
        _ = try device.initialise(workerId: "swift-worker")
        let summary = try device.capture(input: sampleRegistrationForm())
        XCTAssertEqual(summary.childName, "Олена Коваленко")
        XCTAssertEqual(summary.status, .pending)
        let found = try device.list(filter: ListFilter(status: nil, search: "олена", currentOnly: false, limit: nil))
        XCTAssertEqual(found.map(\.id), [summary.id])
    }

    func testValidationListsFieldPaths() throws {
        let device = try newDevice()
        _ = try device.initialise(workerId: "swift-worker")
        var form = sampleRegistrationForm()
        form.child.givenNames = ""
        form.caregivers = []
        XCTAssertThrowsError(try device.capture(input: form)) { error in
            guard case let BirthrightError.Validation(reason, errors) = error else {
                return XCTFail("expected a validation error, got \(error)")
            }
            XCTAssertTrue(errors.map(\.path).contains("child.given_names"))
            XCTAssertTrue(errors.map(\.path).contains("caregivers"))
            XCTAssertTrue(reason.contains("child.given_names: is required"))
            XCTAssertEqual(errors.first { $0.path == "child.given_names" }?.code, .required)
            XCTAssertEqual(error.localizedDescription, reason)
        }
    }

    func testStatesAreDistinctErrorsWithTheirReasonAsDescription() throws {
        let device = try newDevice()
        XCTAssertThrowsError(try device.capture(input: sampleRegistrationForm())) { error in
            guard case let BirthrightError.NotInitialised(reason) = error else {
                return XCTFail("expected NotInitialised, got \(error)")
            }
            XCTAssertEqual(error.localizedDescription, reason)
            XCTAssertEqual("\(error)", reason)
        }
        _ = try device.initialise(workerId: "swift-worker")
        let first = try device.capture(input: sampleRegistrationForm())
        XCTAssertLessThan(abs(first.capturedAt.timeIntervalSinceNow), 600)
        let second = try device.correct(id: first.id, input: sampleRegistrationForm())
        XCTAssertThrowsError(try device.correct(id: first.id, input: sampleRegistrationForm())) { error in
            guard case let BirthrightError.AlreadyCorrected(_, id, correctedBy) = error else {
                return XCTFail("expected AlreadyCorrected, got \(error)")
            }
            XCTAssertEqual(id, first.id)
            XCTAssertEqual(correctedBy, second.id)
        }
        let batch = try device.captureBatch(forms: [sampleRegistrationForm(), sampleRegistrationForm()])
        XCTAssertEqual(batch.count, 2)
        XCTAssertEqual(SyncOptions().maxAttempts, 6)
    }

    func testWrongStorageKey() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        _ = try Device.create(path: path, storageKey: Data(repeating: 1, count: 32))
        XCTAssertThrowsError(try Device.open(path: path, storageKey: Data(repeating: 2, count: 32))) { error in
            guard case BirthrightError.WrongStorageKey = error else {
                return XCTFail("expected WrongStorageKey, got \(error)")
            }
        }
    }

    func testAFailingTransportIsUnreachableNotACrash() throws {
        final class Offline: Transport {
            func send(request: HttpRequest) throws -> HttpResponse {
                throw TransportError.Failed(reason: "no network")
            }
        }
        let device = try newDevice()
        _ = try device.initialise(workerId: "swift-worker")
        let pin = TrustPin.fingerprint(fingerprint: "0000-0000-0000-0000-0000-0000-0000-0000")
        XCTAssertThrowsError(try device.enrol(transport: Offline(), token: "t", pin: pin)) { error in
            guard case BirthrightError.Unreachable = error else {
                return XCTFail("expected Unreachable, got \(error)")
            }
        }
    }
}
