// swift-tools-version:5.9
// The Birthright core for iOS: the Rust library as an XCFramework (built by
// build-xcframework.sh), the generated Swift bindings, and a thin Swift layer.
import PackageDescription

let package = Package(
    name: "Birthright",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Birthright", targets: ["Birthright"]),
    ],
    targets: [
        .binaryTarget(name: "birthright_ffiFFI", path: "build/BirthrightFFI.xcframework"),
        .target(
            name: "BirthrightFFI",
            dependencies: ["birthright_ffiFFI"],
            path: "Sources/BirthrightFFI",
            exclude: [
                "birthright_ffiFFI.h", "birthright_ffiFFI.modulemap",
                "birthright_coreFFI.h", "birthright_coreFFI.modulemap",
            ]
        ),
        .target(name: "Birthright", dependencies: ["BirthrightFFI"], path: "Sources/Birthright"),
        .testTarget(name: "BirthrightTests", dependencies: ["Birthright"], path: "Tests/BirthrightTests"),
    ]
)
