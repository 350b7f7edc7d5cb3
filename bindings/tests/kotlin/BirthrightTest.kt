// Host JVM tests of the generated Kotlin bindings against the real library and a real registry
// process on loopback (started by scripts/test-bindings.sh, which passes its URL, a one-time
// enrolment token and the trust bundle path in the environment).

import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest as JHttpRequest
import java.net.http.HttpResponse as JHttpResponse
import java.nio.file.Files
import java.security.SecureRandom
import java.time.Duration
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import uniffi.birthright_ffi.*

/** A Transport over java.net.http, as an app would write one over OkHttp or URLSession. */
class JavaHttpTransport(private val baseUrl: String) : Transport {
    private val client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()

    override fun send(request: HttpRequest): HttpResponse {
        val builder = JHttpRequest.newBuilder(URI.create(baseUrl + request.path)).timeout(Duration.ofSeconds(60))
        request.contentType?.let { builder.header("content-type", it) }
        if (request.method == "POST") {
            builder.POST(JHttpRequest.BodyPublishers.ofByteArray(request.body))
        } else {
            builder.GET()
        }
        try {
            val response = client.send(builder.build(), JHttpResponse.BodyHandlers.ofByteArray())
            val retryAfter = response.headers().firstValue("retry-after").map { it.trim().toULongOrNull() }.orElse(null)
            return HttpResponse(response.statusCode().toUShort(), retryAfter, response.body())
        } catch (e: java.io.IOException) {
            throw TransportException.Failed(e.toString())
        }
    }
}

/** A transport whose code has a bug: it throws something the bindings do not declare. */
class BrokenTransport : Transport {
    override fun send(request: HttpRequest): HttpResponse = throw IllegalStateException("bug in the app's HTTP code")
}

/** On its first batch upload, tries a second sync of the same device (as a background job
 *  and a "Sync now" tap would) and records how that went. */
class RacingTransport(private val inner: Transport, private val device: Device) : Transport {
    @Volatile var second: String? = null
    override fun send(request: HttpRequest): HttpResponse {
        if (second == null && request.path == "/v1/batches") {
            second = try {
                device.sync(inner, CountingProgress(), null)
                "ran"
            } catch (e: BirthrightException.SyncInProgress) {
                "in progress"
            }
        }
        return inner.send(request)
    }
}

class CountingProgress : SyncProgress {
    val calls = AtomicInteger(0)
    @Volatile var last: SyncCounts? = null
    override fun onProgress(counts: SyncCounts) {
        calls.incrementAndGet()
        last = counts
    }
}

var passed = 0
var failed = 0

fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("ok      $name")
    } catch (e: Throwable) {
        failed++
        println("FAILED  $name: $e")
    }
}

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

fun newKey(): ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }

fun fastOptions() = SyncOptions(32768u, 100u, 2u, 10uL, 50uL)

fun main() {
    val url = System.getenv("BIRTHRIGHT_REGISTRY_URL") ?: error("BIRTHRIGHT_REGISTRY_URL not set")
    val token = System.getenv("BIRTHRIGHT_ENROL_TOKEN") ?: error("BIRTHRIGHT_ENROL_TOKEN not set")
    val trust = String(Files.readAllBytes(java.nio.file.Path.of(System.getenv("BIRTHRIGHT_TRUST_BUNDLE"))))
    val dir = Files.createTempDirectory("birthright-kotlin")
    val path = dir.resolve("device.db").toString()
    val key = newKey()
    val device = Device.create(path, key)

    test("a missing store is not created by open, an existing one not replaced by create") {
        try {
            Device.open(dir.resolve("missing.db").toString(), newKey())
            throw AssertionError("open created a store")
        } catch (e: BirthrightException.NotReady) {
            check(e.reason.contains("no device store")) { e.reason }
        }
        check(!Files.exists(dir.resolve("missing.db"))) { "nothing created" }
        try {
            Device.create(path, key)
            throw AssertionError("create replaced a store")
        } catch (e: BirthrightException.NotReady) {
            check(e.reason.contains("already exists")) { e.reason }
        }
    }

    test("a store truncated to zero bytes is damaged, not recreated") {
        val truncated = dir.resolve("truncated.db")
        Files.write(truncated, ByteArray(0))
        try {
            Device.open(truncated.toString(), newKey())
            throw AssertionError("opened an empty file")
        } catch (e: BirthrightException.Storage) {
            check(e.reason.contains("empty")) { e.reason }
        }
        check(Files.size(truncated) == 0L) { "left as found" }
    }

    test("open and init with a storage key") {
        val identity = device.`init`("kotlin-worker")
        check(identity.keyId.length == 16) { "key id ${identity.keyId}" }
        check(device.identity().publicKey.size == 32) { "public key" }
    }

    test("a wrong storage key is a typed error with a clear message") {
        try {
            Device.open(path, newKey())
            throw AssertionError("opened with the wrong key")
        } catch (e: BirthrightException.WrongStorageKey) {
            check(e.reason.contains("wrong storage key")) { e.reason }
        }
    }

    test("a key of the wrong length is invalid input") {
        try {
            Device.create(dir.resolve("other.db").toString(), ByteArray(16))
            throw AssertionError("accepted a 16-byte key")
        } catch (e: BirthrightException.InvalidInput) {
            check(e.reason.contains("32 bytes")) { e.reason }
        }
    }

    var olenaId = ""
    test("capture with Cyrillic names") {
        val summary = device.capture(sampleEnrolment())
        olenaId = summary.id
        check(summary.childName == "Олена Коваленко") { summary.childName }
        check(summary.status == RecordStatus.PENDING) { "${summary.status}" }
        val stored = device.get(summary.id)
        check(stored.input.placeOfBirth.locality == "Зимна Вода") { stored.input.placeOfBirth.locality }
    }

    test("capture a form built in Kotlin (Romanian diacritics, decomposed input normalised)") {
        val sample = sampleEnrolment()
        val input = sample.copy(
            child = sample.child.copy(givenNames = "Ștefan", familyName = "Țăran", sex = Sex.MALE),
            mother = sample.mother.copy(givenNames = "Rene\u0301e", familyName = "Țăran"),
        )
        val summary = device.capture(input)
        check(summary.childName == "Ștefan Țăran") { summary.childName }
        check(summary.motherName == "Renée Țăran") { "NFC: ${summary.motherName}" }
    }

    test("a validation error lists every field path") {
        val sample = sampleEnrolment()
        val bad = sample.copy(
            child = sample.child.copy(givenNames = " ", dateOfBirth = "2099-01-01"),
            caregivers = emptyList(),
        )
        try {
            device.capture(bad)
            throw AssertionError("invalid form accepted")
        } catch (e: BirthrightException.Validation) {
            val paths = e.errors.map { it.path }
            check(paths.containsAll(listOf("child.given_names", "child.date_of_birth", "caregivers"))) { "$paths" }
            check(e.reason.contains("child.date_of_birth: must not be in the future")) { e.reason }
        }
        check(device.counts().pending == 2uL) { "nothing stored: ${device.counts()}" }
    }

    test("list and search") {
        check(device.list(ListFilter(null, null, false, null)).size == 2) { "list all" }
        check(device.list(ListFilter(null, "олена", false, null)).map { it.id } == listOf(olenaId)) { "search Cyrillic" }
        check(device.list(ListFilter(null, "ȚĂRAN", false, null)).size == 1) { "search Romanian" }
        check(device.list(ListFilter(RecordStatus.ACKNOWLEDGED, null, false, null)).isEmpty()) { "by status" }
    }

    test("calls from many threads at once") {
        val pool = Executors.newFixedThreadPool(4)
        val futures = (1..8).map { pool.submit<String> { device.capture(sampleEnrolment()).id } }
        val ids = futures.map { it.get(60, TimeUnit.SECONDS) }
        pool.shutdown()
        check(ids.toSet().size == 8) { "8 distinct records" }
    }

    val transport = JavaHttpTransport(url)
    test("a wrong fingerprint stops enrolment before the token is used") {
        try {
            device.enrol(transport, token, TrustPin.Fingerprint("0000-0000-0000-0000-0000-0000-0000-0000"))
            throw AssertionError("enrolled against a wrong pin")
        } catch (e: BirthrightException.Integrity) {
            check(e.reason.contains("not the pinned one")) { e.reason }
        }
        check(device.trustBundle() == null) { "nothing stored" }
    }

    test("a refusal carries the registry's code, apart from no signal") {
        val other = Device.create(dir.resolve("other-device.db").toString(), newKey())
        other.`init`("kotlin-worker")
        val fresh = System.getenv("BIRTHRIGHT_SPARE_TOKEN") ?: error("BIRTHRIGHT_SPARE_TOKEN not set")
        other.enrol(transport, fresh, TrustPin.Bundle(trust))
        val third = Device.create(dir.resolve("third-device.db").toString(), newKey())
        third.`init`("kotlin-worker")
        try {
            third.enrol(transport, fresh, TrustPin.Bundle(trust))
            throw AssertionError("a used token enrolled another device")
        } catch (e: BirthrightException.Refused) {
            check(e.code == "token_used" && e.status == 409.toUShort()) { "${e.status} ${e.code}" }
            check(e.reason.contains("already been used")) { e.reason }
        }
        other.close()
        third.close()
    }

    test("enrol through a Kotlin transport, pinning the trust bundle") {
        val enrolment = device.enrol(transport, token, TrustPin.Bundle(trust))
        check(enrolment.workerId == "kotlin-worker") { enrolment.workerId }
        check(device.trustBundle() != null) { "bundle stored" }
    }

    test("a full sync against the registry, with progress callbacks") {
        val progress = CountingProgress()
        val report = device.sync(transport, progress, null)
        check(report.accepted == 10uL) { "accepted ${report.accepted}" }
        check(report.treeSize >= 10uL) { "tree ${report.treeSize}" }
        check(progress.calls.get() >= 2) { "progress called ${progress.calls.get()} times" }
        check(progress.last?.acknowledged == 10uL) { "last progress ${progress.last}" }
        check((progress.last?.bytesSent ?: 0uL) > 0uL) { "bytes sent ${progress.last}" }
        check(progress.last?.retryInMs == 0uL) { "no wait pending ${progress.last}" }
        check(device.counts().acknowledged == 10uL) { "${device.counts()}" }
        val olena = device.get(olenaId).summary
        check(olena.status == RecordStatus.ACKNOWLEDGED && olena.leafIndex != null) { "$olena" }
    }

    test("issue a credential and verify it offline") {
        val credential = device.credential(olenaId)
        check(credential.kind == "registered") { credential.kind }
        check(credential.text.startsWith("BR1:")) { credential.text }
        check(credential.qrVersion <= 11u.toUByte()) { "QR version ${credential.qrVersion}" }
        check(credential.svg.startsWith("<svg")) { "svg" }
        val verification = verifyCredential(credential.text, trust, device.revocationList(), System.currentTimeMillis() / 1000)
        check(verification.status == VerificationStatus.VALID) { "${verification.status} ${verification.reason}" }
        check(verification.claims?.givenNames == "Олена") { "${verification.claims}" }
        check(verification.revocationListAgeSecs != null) { "revocation list used" }
        val forged = credential.text.substring(0, 40) + (if (credential.text[40] == 'A') 'B' else 'A') + credential.text.substring(41)
        val refused = verifyCredential(forged, trust, null, System.currentTimeMillis() / 1000)
        check(refused.status == VerificationStatus.INVALID) { "forgery: ${refused.status}" }
    }

    test("an exception thrown inside the Kotlin transport is a sync error, not a crash") {
        device.capture(sampleEnrolment())
        try {
            device.sync(BrokenTransport(), CountingProgress(), fastOptions())
            throw AssertionError("sync succeeded without a network")
        } catch (e: BirthrightException.Unreachable) {
            check(e.reason.contains("could not be reached")) { e.reason }
            check(e.reason.contains("bug in the app's HTTP code")) { e.reason }
        }
        check(device.counts().pending + device.counts().inFlight == 1uL) { "nothing lost: ${device.counts()}" }
        val report = device.sync(transport, CountingProgress(), null)
        check(report.accepted == 1uL) { "resumed: ${report.accepted}" }
    }

    test("a second sync while one runs is told so, distinctly") {
        device.capture(sampleEnrolment())
        val racing = RacingTransport(transport, device)
        val report = device.sync(racing, CountingProgress(), null)
        check(report.accepted == 1uL) { "first sync: ${report.accepted}" }
        check(racing.second == "in progress") { "second sync: ${racing.second}" }
    }

    test("a cancelled sync stops with Cancelled and the next one resumes") {
        device.capture(sampleEnrolment())
        val cancellation = SyncCancellation()
        cancellation.cancel()
        try {
            device.syncCancellable(transport, CountingProgress(), fastOptions(), cancellation)
            throw AssertionError("a cancelled sync ran")
        } catch (e: BirthrightException.Cancelled) {
            check(e.reason.contains("cancelled")) { e.reason }
        }
        check(device.counts().pending == 1uL) { "nothing lost: ${device.counts()}" }
        val report = device.syncCancellable(transport, CountingProgress(), null, SyncCancellation())
        check(report.accepted == 1uL) { "resumed: ${report.accepted}" }
        check(device.revokedAt() == null) { "not revoked" }
    }

    device.close()
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
