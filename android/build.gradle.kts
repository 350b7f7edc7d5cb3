// Android library (AAR) wrapping the Birthright Rust core.
//
// `cargoNdk` builds libbirthright_ffi.so for each ABI with cargo-ndk; `generateBindings` runs the
// workspace's uniffi-bindgen on a host build of the same library to produce the Kotlin bindings.
// Needs: the Android SDK and NDK (ANDROID_NDK_HOME), `cargo install cargo-ndk`, and
// `rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android`.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

android {
    namespace = "org.birthright"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].jniLibs.srcDir(layout.buildDirectory.dir("rustJniLibs"))
    sourceSets["main"].kotlin.srcDir(layout.buildDirectory.dir("generated/uniffi"))
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
        // The bindings carry times as java.time.Instant (UniFFI's mapping of SystemTime), which
        // Android has from API 26 only: desugared below that. The app must enable it too.
        isCoreLibraryDesugaringEnabled = true
    }
    kotlinOptions { jvmTarget = "17" }
}

val workspace = rootDir.parentFile
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

val cargoNdk by tasks.registering(Exec::class) {
    description = "Builds the Rust core for every Android ABI (release, small-binary profile)."
    workingDir = workspace
    val args = mutableListOf("cargo", "ndk")
    abis.forEach { args += listOf("-t", it) }
    args += listOf("-o", layout.buildDirectory.dir("rustJniLibs").get().asFile.path, "build", "--release", "-p", "birthright-ffi")
    commandLine(args)
}

val generateBindings by tasks.registering(Exec::class) {
    description = "Generates the Kotlin bindings from a host build of the library (never a stripped one)."
    workingDir = workspace
    val out = layout.buildDirectory.dir("generated/uniffi").get().asFile.path
    // The host library the bindings are generated from: .dylib on a Mac, .so on Linux.
    val hostLib = if (System.getProperty("os.name").startsWith("Mac")) "libbirthright_ffi.dylib" else "libbirthright_ffi.so"
    commandLine(
        "sh", "-c",
        "cargo build -q -p birthright-ffi --features bindgen && " +
            "target/debug/uniffi-bindgen generate target/debug/$hostLib --language kotlin --no-format --out-dir $out",
    )
}

tasks.named("preBuild") { dependsOn(cargoNdk, generateBindings) }

dependencies {
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("com.squareup.okhttp3:okhttp:4.12.0")
    coreLibraryDesugaring("com.android.tools:desugar_jdk_libs:2.1.4")
    testImplementation("junit:junit:4.13.2")
    testImplementation("com.squareup.okhttp3:mockwebserver:4.12.0")
}
