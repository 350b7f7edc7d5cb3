// Host JVM tests of the generated Kotlin bindings against the real library and a real registry
// process on loopback (started by scripts/test-bindings.sh, which passes its URL, a one-time
// enrolment token and the trust bundle path in the environment).

import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
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
import org.birthright.CreateOnce
import javax.imageio.ImageIO
import uniffi.birthright_core.*
import uniffi.birthright_ffi.*

/** A Transport over java.net.http, as an app would write one over OkHttp or URLSession. */
class JavaHttpTransport(private val baseUrl: String) : Transport {
    private val client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()

    override fun send(request: HttpRequest): HttpResponse {
        val builder = JHttpRequest.newBuilder(URI.create(baseUrl + request.path)).timeout(Duration.ofSeconds(60))
        request.contentType?.let { builder.header("content-type", it) }
        if (request.method == HttpMethod.POST) {
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

/// The core's QR image reader, through the CLI built beside the library: `verify --image`.
fun verifyImage(png: java.nio.file.Path): String {
    val cli = System.getenv("BIRTHRIGHT_CLI") ?: error("BIRTHRIGHT_CLI not set")
    val process = ProcessBuilder(cli, "verify", "--trust", System.getenv("BIRTHRIGHT_TRUST_BUNDLE"), "--image", png.toString(), "--json")
        .redirectErrorStream(true).start()
    val output = String(process.inputStream.readAllBytes())
    process.waitFor()
    return output
}

/// Draws a QR matrix as an app would: whole-pixel squares, dark on light, with the quiet zone.
fun draw(matrix: QrMatrix, scale: Int): BufferedImage {
    val n = matrix.size.toInt()
    val side = (n + 2 * matrix.quietZone.toInt()) * scale
    val image = BufferedImage(side, side, BufferedImage.TYPE_BYTE_GRAY)
    val g = image.createGraphics()
    g.color = java.awt.Color.WHITE
    g.fillRect(0, 0, side, side)
    g.color = java.awt.Color.BLACK
    for (y in 0 until n) for (x in 0 until n) {
        if (matrix.modules[y * n + x] == 1.toByte()) {
            g.fillRect((x + matrix.quietZone.toInt()) * scale, (y + matrix.quietZone.toInt()) * scale, scale, scale)
        }
    }
    g.dispose()
    return image
}

fun newKey(): ByteArray = ByteArray(32).also { SecureRandom().nextBytes(it) }

fun fastOptions() = SyncOptions(maxAttempts = 2u, initialBackoffMs = 10uL, maxBackoffMs = 50uL)

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
        } catch (e: BirthrightException.StoreMissing) {
            check(e.reason.contains("no device store")) { e.reason }
        }
        check(!Files.exists(dir.resolve("missing.db"))) { "nothing created" }
        try {
            Device.create(path, key)
            throw AssertionError("create replaced a store")
        } catch (e: BirthrightException.StoreExists) {
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

    test("open and initialise with a storage key") {
        val identity = device.initialise("kotlin-worker")
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
        val captured = device.capture(sampleRegistrationForm())
        check(captured.possibleDuplicates.isEmpty()) { "${captured.possibleDuplicates}" }
        check(captured.registryHints.isEmpty()) { "never synced: ${captured.registryHints}" }
        val summary = captured.summary
        olenaId = summary.id
        check(summary.childName == "Олена Коваленко") { summary.childName }
        check(summary.status == RecordStatus.PENDING) { "${summary.status}" }
        val stored = device.get(summary.id)
        check(stored.input.placeOfBirth.locality == "Зимна Вода") { stored.input.placeOfBirth.locality }
    }

    test("capture a form built in Kotlin (Romanian diacritics, decomposed input normalised)") {
        val sample = sampleRegistrationForm()
        val input = sample.copy(
            child = sample.child.copy(givenNames = "Ștefan", familyName = "Țăran", sex = Sex.MALE),
            mother = sample.mother.copy(givenNames = "Rene\u0301e", familyName = "Țăran"),
        )
        val summary = device.capture(input).summary
        check(summary.childName == "Ștefan Țăran") { summary.childName }
        check(summary.motherName == "Renée Țăran") { "NFC: ${summary.motherName}" }
    }

    test("a validation error lists every field path") {
        val sample = sampleRegistrationForm()
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
        val futures = (1..8).map { pool.submit<String> { device.capture(sampleRegistrationForm()).summary.id } }
        val ids = futures.map { it.get(60, TimeUnit.SECONDS) }
        pool.shutdown()
        check(ids.toSet().size == 8) { "8 distinct records" }
    }

    test("an uninitialised device says so; initialising twice is its own error") {
        val fresh = Device.create(dir.resolve("uninitialised.db").toString(), newKey())
        try {
            fresh.capture(sampleRegistrationForm())
            throw AssertionError("captured without an identity")
        } catch (e: BirthrightException.NotInitialised) {
            check(e.reason.contains("not initialised")) { e.reason }
            // toString() is the reason (Rust's Display); `message` is UniFFI's field list.
            check(e.toString() == e.reason) { e.toString() }
            check(e.message == "reason=${e.reason}") { "${e.message}" }
        }
        fresh.initialise("kotlin-worker")
        try {
            fresh.initialise("kotlin-worker")
            throw AssertionError("initialised twice")
        } catch (e: BirthrightException.AlreadyInitialised) {
            check(e.reason.contains("already initialised")) { e.reason }
        }
        fresh.close()
    }

    test("validation errors carry a stable code per field") {
        val sample = sampleRegistrationForm()
        val bad = sample.copy(
            child = sample.child.copy(givenNames = " ", dateOfBirth = "2099-01-01"),
            mother = sample.mother.copy(nationality = "XX"),
        )
        try {
            device.capture(bad)
            throw AssertionError("invalid form accepted")
        } catch (e: BirthrightException.Validation) {
            val codes = e.errors.associate { it.path to it.code }
            check(codes == mapOf(
                "child.given_names" to FieldCode.REQUIRED,
                "child.date_of_birth" to FieldCode.FUTURE_DATE,
                "mother.nationality" to FieldCode.INVALID_COUNTRY,
            )) { "$codes" }
            check(e.errors.first { it.code == FieldCode.FUTURE_DATE }.message == "must not be in the future") { "${e.errors}" }
            check(e.toString() == e.reason && e.reason.lines().size == 3) { e.toString() }
        }
    }

    test("SyncOptions() has the documented defaults") {
        val d = SyncOptions()
        check(d.maxBatchBytes == 32768u && d.maxBatchRecords == 100u && d.maxAttempts == 6u) { "$d" }
        check(d.initialBackoffMs == 500uL && d.maxBackoffMs == 60000uL && !d.waitForOtherSync) { "$d" }
        check(fastOptions().maxBatchBytes == 32768u) { "named arguments keep the other defaults" }
    }

    test("capture times are platform instants") {
        val summary = device.get(olenaId).summary
        val age = java.time.Duration.between(summary.capturedAt, java.time.Instant.now())
        check(!age.isNegative && age.seconds < 600) { "captured at ${summary.capturedAt}" }
        check(device.revokedAt() == null) { "not revoked" }
    }

    val transport = JavaHttpTransport(url)

    test("a sync before enrolment is NotEnrolled") {
        val lone = Device.create(dir.resolve("not-enrolled.db").toString(), newKey())
        lone.initialise("kotlin-worker")
        lone.capture(sampleRegistrationForm())
        try {
            lone.sync(transport, CountingProgress())
            throw AssertionError("synced without enrolment")
        } catch (e: BirthrightException.NotEnrolled) {
            check(e.reason.contains("not enrolled")) { e.reason }
        }
        try {
            lone.credential(lone.list(ListFilter(null, null, false, null)).first().id)
            throw AssertionError("a provisional credential without a certificate")
        } catch (e: BirthrightException.NotEnrolled) {
            check(e.toString() == e.reason) { e.toString() }
        }
        lone.close()
    }
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
        other.initialise("kotlin-worker")
        val fresh = System.getenv("BIRTHRIGHT_SPARE_TOKEN") ?: error("BIRTHRIGHT_SPARE_TOKEN not set")
        other.enrol(transport, fresh, TrustPin.Bundle(trust))
        val third = Device.create(dir.resolve("third-device.db").toString(), newKey())
        third.initialise("kotlin-worker")
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
        check(enrolment.validUntil.isAfter(java.time.Instant.now())) { "valid until ${enrolment.validUntil}" }
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
        val counts = device.counts()
        check(counts.acknowledged + counts.registered == 10uL) { "$counts" }
        check(report.registered == counts.registered && counts.registered > 0uL) { "${report.registered} $counts" }
        val olena = device.get(olenaId).summary
        check(olena.status == RecordStatus.REGISTERED && olena.leafIndex != null) { "$olena" }
    }

    test("issue a credential and verify it offline") {
        val credential = device.credential(olenaId)
        check(credential.kind == CredentialKind.REGISTERED) { "${credential.kind}" }
        check(credential.text.startsWith("BR1:")) { credential.text }
        check(credential.qrVersion <= 11u.toUByte()) { "QR version ${credential.qrVersion}" }
        check(credential.svg.startsWith("<svg")) { "svg" }
        val verification = verifyCredential(credential.text, trust, device.revocationList(), System.currentTimeMillis() / 1000)
        check(verification.status == VerificationStatus.VALID) { "${verification.status} ${verification.reason}" }
        check(verification.claims?.givenNames == "Олена") { "${verification.claims}" }
        check(verification.claims?.sex == Sex.FEMALE) { "${verification.claims?.sex}" }
        val issued = verification.claims!!.issuedAt
        check(java.time.Duration.between(issued, java.time.Instant.now()).abs().seconds < 3600) { "issued at $issued" }
        check(verification.revocationListAgeSecs != null) { "revocation list used" }
        val forged = credential.text.substring(0, 40) + (if (credential.text[40] == 'A') 'B' else 'A') + credential.text.substring(41)
        val refused = verifyCredential(forged, trust, null, System.currentTimeMillis() / 1000)
        check(refused.status == VerificationStatus.INVALID) { "forgery: ${refused.status}" }
    }

    test("the credential's QR matrix and PNG draw a code that reads back as the credential") {
        val credential = device.credential(olenaId)
        val matrix = device.credentialQr(olenaId)
        val n = matrix.size.toInt()
        check(matrix.size == 17u + 4u * credential.qrVersion.toUInt()) { "size ${matrix.size}, version ${credential.qrVersion}" }
        check(matrix.quietZone == 4u) { "quiet zone ${matrix.quietZone}" }
        check(matrix.modules.size == n * n) { "${matrix.modules.size} modules" }
        check(matrix.modules.all { it == 0.toByte() || it == 1.toByte() }) { "modules are 0 or 1" }
        // The top-left finder pattern: a dark 7 x 7 ring around a light ring and a dark centre.
        val dark = { x: Int, y: Int -> matrix.modules[y * n + x] == 1.toByte() }
        check((0..6).all { dark(it, 0) && dark(0, it) && dark(it, 6) && dark(6, it) }) { "finder ring" }
        check((1..5).all { !dark(it, 1) && !dark(1, it) } && dark(3, 3)) { "finder centre" }
        // (A record with a ByteArray compares arrays by reference: compare the contents.)
        val again = credentialQrFromText(credential.text)
        check(again.size == matrix.size && again.modules.contentEquals(matrix.modules)) { "the same matrix from the text" }

        // Drawn by the app from the matrix, then read by the core's QR reader.
        val drawn = dir.resolve("drawn.png")
        ImageIO.write(draw(matrix, 5), "png", drawn.toFile())
        val fromDrawing = verifyImage(drawn)
        check(fromDrawing.contains("\"status\": \"valid\"") && fromDrawing.contains(olenaId)) { fromDrawing }

        // The library's PNG: the same modules at 6 pixels each, and it reads back too.
        val png = device.credentialPng(olenaId, 6u)
        val image = ImageIO.read(ByteArrayInputStream(png))
        check(image.width == (n + 8) * 6 && image.height == image.width) { "${image.width} x ${image.height}" }
        for (y in 0 until n + 8) for (x in 0 until n + 8) {
            val inCode = x in 4 until n + 4 && y in 4 until n + 4
            val want = inCode && dark(x - 4, y - 4)
            val got = (image.getRGB(x * 6 + 3, y * 6 + 3) and 0xff) < 128
            check(got == want) { "PNG module ($x, $y): $got" }
        }
        check(credentialPngFromText(credential.text, 6u).contentEquals(png)) { "the same PNG from the text" }
        val file = dir.resolve("credential.png")
        Files.write(file, png)
        val fromPng = verifyImage(file)
        check(fromPng.contains("\"status\": \"valid\"") && fromPng.contains(olenaId)) { fromPng }

        try {
            device.credentialPng(olenaId, 0u)
            throw AssertionError("scale 0 accepted")
        } catch (e: BirthrightException.InvalidInput) {
            check(e.reason == "cannot draw the QR code: the PNG scale must be 1 to 32 pixels a module, not 0") { e.reason }
        }
        try {
            credentialQrFromText("hello")
            throw AssertionError("not a credential, drawn")
        } catch (e: BirthrightException.InvalidInput) {
            check(e.reason.contains("must start with BR1:")) { e.reason }
        }
    }

    test("an exception thrown inside the Kotlin transport is a sync error, not a crash") {
        device.capture(sampleRegistrationForm())
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
        device.capture(sampleRegistrationForm())
        val racing = RacingTransport(transport, device)
        val report = device.sync(racing, CountingProgress(), null)
        check(report.accepted == 1uL) { "first sync: ${report.accepted}" }
        check(racing.second == "in progress") { "second sync: ${racing.second}" }
    }

    test("a cancelled sync stops with Cancelled and the next one resumes") {
        device.capture(sampleRegistrationForm())
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

    test("a Verifier without a device: lists through a Kotlin transport, a corrected credential superseded") {
        val old = device.credential(olenaId).text
        val now = System.currentTimeMillis() / 1000
        val verifier = Verifier(listOf(trust))
        check(verifier.origins() == listOf("registry.kotlin-test/births")) { "${verifier.origins()}" }
        val before = verifier.verifyText(old, now)
        check(before.status == VerificationStatus.VALID) { "${before.status} ${before.reason}" }
        check(before.statusListAgeSecs == null) { "no list yet" }
        check(before.headline.startsWith("VALID: registered birth of Олена Коваленко, born ")) { before.headline }
        check(before.headline.contains("Check that the adult is one of: Ірина Коваленко (mother)")) { before.headline }
        val first = verifier.refresh(transport)
        check(first.revocationsKept && first.statusListKept) { "$first" }
        check(verifier.verifyText(old, now).status == VerificationStatus.VALID) { "valid before the correction" }

        device.correct(olenaId, sampleRegistrationForm())
        device.sync(transport, CountingProgress(), null)
        val refreshed = verifier.refresh(transport)
        check(refreshed.origin == "registry.kotlin-test/births") { refreshed.origin }
        val after = verifier.verifyText(old, now)
        check(after.status == VerificationStatus.SUPERSEDED) { "${after.status} ${after.reason}" }
        check(after.headline.startsWith("SUPERSEDED")) { after.headline }
        check(after.statusListAgeSecs != null) { "status list used" }

        // Another verifier, from the bytes the app cached; an older list never replaces it.
        val offline = Verifier(listOf(trust))
        check(offline.addStatusList(refreshed.statusList!!)) { "kept" }
        check(offline.addRevocationList(refreshed.revocationList)) { "kept" }
        check(offline.verifyText(old, now).status == VerificationStatus.SUPERSEDED) { "offline" }
        // The device cached the same kind of list at its sync.
        val fromDevice = Verifier(listOf(trust))
        fromDevice.addStatusList(device.statusList()!!)
        check(fromDevice.verifyText(old, now).status == VerificationStatus.SUPERSEDED) { "device's list" }

        // A list from no registry it trusts is refused; no signal is Unreachable.
        try {
            Verifier(listOf()).addStatusList(refreshed.statusList!!)
            throw AssertionError("an untrusted list was accepted")
        } catch (e: BirthrightException.Integrity) {
            check(e.reason.contains("no registry this verifier trusts")) { e.reason }
        }
        try {
            verifier.refresh(BrokenTransport())
            throw AssertionError("refreshed without a network")
        } catch (e: BirthrightException.Unreachable) {
            check(e.reason.contains("bug in the app's HTTP code")) { e.reason }
        }
        // Unreadable images and frames say "scan again", not "invalid".
        val image = verifier.verifyImage(byteArrayOf(1, 2, 3), now)
        check(image.status == VerificationStatus.UNREADABLE) { "${image.status} ${image.reason}" }
        val frame = verifier.verifyFrame(64u, 64u, ByteArray(64 * 64) { 0xFF.toByte() }, now)
        check(frame.status == VerificationStatus.UNREADABLE) { "${frame.status} ${frame.reason}" }
        val short = verifier.verifyFrame(64u, 64u, ByteArray(10), now)
        check(short.status == VerificationStatus.UNREADABLE) { "${short.status} ${short.reason}" }
        // A forgery is invalid.
        val forged = old.substring(0, 40) + (if (old[40] == 'A') 'B' else 'A') + old.substring(41)
        check(verifier.verifyText(forged, now).status == VerificationStatus.INVALID) { "forgery" }
    }

    test("android CreateOnce: first-launch callers racing make one storage key") {
        val once = CreateOnce()
        val stored = java.util.concurrent.atomic.AtomicReference<ByteArray?>(null)
        val created = AtomicInteger(0)
        val start = java.util.concurrent.CountDownLatch(1)
        val pool = Executors.newFixedThreadPool(8)
        val results = (1..8).map {
            pool.submit<ByteArray> {
                start.await()
                once.get(load = { stored.get() }, create = {
                    created.incrementAndGet()
                    Thread.sleep(50) // a Keystore operation takes this long or longer
                    newKey().also { stored.set(it) }
                })
            }
        }
        start.countDown()
        val keys = results.map { it.get(30, TimeUnit.SECONDS) }
        pool.shutdown()
        check(created.get() == 1) { "created ${created.get()} keys" }
        check(keys.all { it.contentEquals(keys[0]) }) { "every caller got the same key" }
    }

    test("a missing record is NotFound, with its id") {
        val missing = "0190f1c2-7d3a-7b4e-8f00-000000000000"
        try {
            device.get(missing)
            throw AssertionError("found a record that does not exist")
        } catch (e: BirthrightException.NotFound) {
            check(e.id == missing && e.reason.contains(missing)) { "${e.id}: ${e.reason}" }
        }
    }

    test("correcting a record twice is AlreadyCorrected, naming the correction") {
        val first = device.capture(sampleRegistrationForm()).summary
        val sample = sampleRegistrationForm()
        val fixed = sample.copy(child = sample.child.copy(givenNames = "Олена Марія"))
        val second = device.correct(first.id, fixed).summary
        check(second.supersedes == first.id) { "${second.supersedes}" }
        try {
            device.correct(first.id, fixed)
            throw AssertionError("corrected an outdated record")
        } catch (e: BirthrightException.AlreadyCorrected) {
            check(e.id == first.id && e.correctedBy == second.id) { "${e.id} by ${e.correctedBy}" }
            check(e.reason.contains("already corrected")) { e.reason }
        }
    }

    test("capture_batch stores every form in order, or none and says which form and field") {
        val before = device.counts().pending
        val sample = sampleRegistrationForm()
        val forms = listOf(sample, sample.copy(child = sample.child.copy(givenNames = "Ірина")), sample)
        val captured = device.captureBatch(forms)
        val done = captured.map { it.summary }
        check(done.map { it.childName } == listOf("Олена Коваленко", "Ірина Коваленко", "Олена Коваленко")) { "${done.map { it.childName }}" }
        check(done.map { it.id }.toSet().size == 3) { "distinct ids" }
        // The third form is the first one again: reported, and stored all the same.
        val third = captured[2].possibleDuplicates
        check(third.any { it.id == done[0].id && it.level == DuplicateLevel.LIKELY }) { "$third" }
        // Ірина: same mother and date, a single birth, another name: only possible.
        check(third.none { it.id == done[1].id && it.level == DuplicateLevel.LIKELY }) { "$third" }
        val shown = third.first { it.id == done[0].id }
        check(shown.message.startsWith("this child may already have been captured (Олена Коваленко, ")) { shown.message }
        check(shown.reasons.contains("same mother and date of birth")) { "${shown.reasons}" }
        check(device.counts().pending == before + 3uL) { "${device.counts()}" }
        val bad = listOf(sample, sample.copy(child = sample.child.copy(dateOfBirth = "2099-01-01")), sample)
        try {
            device.captureBatch(bad)
            throw AssertionError("a batch with an invalid form was stored")
        } catch (e: BirthrightException.Validation) {
            check(e.errors.map { it.path to it.code } == listOf("records[1].child.date_of_birth" to FieldCode.FUTURE_DATE)) { "${e.errors}" }
        }
        check(device.counts().pending == before + 3uL) { "nothing of the bad batch stored: ${device.counts()}" }
    }

    device.close()
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
