// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "spate",
    products: [
        .library(name: "Spate", targets: ["Spate"]),
        .executable(name: "spate", targets: ["spate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shim: typed wrappers for libcurl's variadic calls and for epoll/eventfd/timerfd;
        // SHA-256 from OpenSSL's libcrypto (already loaded by libcurl); the Public Suffix
        // List through libpsl (Debian's list, as libcurl uses it for cookies).
        // zlib for gzip (sitemaps, WARC records); SHA-1 (WARC digests) from libcrypto too.
        .target(
            name: "CSpate",
            linkerSettings: [.linkedLibrary("cares"), .linkedLibrary("curl"), .linkedLibrary("crypto"), .linkedLibrary("psl"), .linkedLibrary("z")]
        ),
        // Release builds leave out the run-time exclusivity checks (swift_beginAccess and
        // swift_endAccess around class and global state: ~1 % of the crawl's CPU samples);
        // the compile-time checks stay, and debug builds, which the tests run, keep both.
        .target(
            name: "Spate", dependencies: ["CSpate"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "spate",
            dependencies: ["Spate", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "SpateTests", dependencies: ["Spate", "CSpate"], exclude: ["Fixtures/http_fixture.py", "Fixtures/warc_check.py"]),
    ],
    swiftLanguageModes: [.v6]
)
