"""Shared build settings for hookprof's own targets."""

# hookprof never instruments itself. A user's global --copt=-finstrument-functions reaches
# external repositories too, so every hookprof target turns the hooks off again (rule copts
# come after --copt on the command line). clang has no negative flag for the function hooks;
# there the HOOKPROF_NO_INSTRUMENT attribute and the per-thread guard do the job. Sanitizer
# coverage (--config=sancov*) is turned off the same way (clang: guards and function entries;
# the fuzz config's inline counters stay, so the fuzzers still see hookprof's own edges).
HOOKPROF_COPTS = select({
    "@hookprof//bazel:clang": ["-fno-sanitize-coverage=func,trace-pc-guard", "-fno-xray-instrument"],
    "//conditions:default": ["-fno-instrument-functions"],
}) + [
    "-fno-sanitize-coverage=trace-pc,trace-cmp",
    "-Wall",
    "-Wno-unused-parameter",
]

# How a test's workload (code standing for the user's) is hooked: XRay sleds on every function
# under --config=xray (the config adds -fxray-instrument), the compiler's function hooks otherwise.
HOOKPROF_WORKLOAD_HOOKS = select({
    "@hookprof//bazel:xray": ["-fxray-instruction-threshold=1"],
    "//conditions:default": ["-finstrument-functions"],
})

def hookprof_cc_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = HOOKPROF_COPTS + copts, **kwargs)

def hookprof_cc_test(name, copts = [], deps = [], **kwargs):
    native.cc_test(
        name = name,
        copts = HOOKPROF_COPTS + copts,
        deps = deps + ["@hookprof_system//:gtest_main"],
        **kwargs
    )

def hookprof_proto_library(name, src, visibility = None, testonly = 0):
    """Compiles one .proto with the system protoc into a cc_library (no @com_google_protobuf)."""
    base = src[:-len(".proto")]
    native.genrule(
        name = name + "_gen",
        testonly = testonly,
        srcs = [src],
        outs = [base + ".pb.h", base + ".pb.cc"],
        cmd = "protoc --proto_path=$$(dirname $(location %s)) --cpp_out=$(@D) $(location %s)" % (src, src),
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"],
        copts = HOOKPROF_COPTS + ["-Wno-all"],
        deps = ["@hookprof_system//:protobuf"],
        visibility = visibility,
        testonly = testonly,
    )
