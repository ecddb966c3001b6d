"""hookprof's dependencies, all from the machine (Debian's -dev packages): nothing is downloaded.

A consumer workspace uses hookprof with:

    local_repository(name = "hookprof", path = "...")
    load("@hookprof//:deps.bzl", "hookprof_dependencies")
    hookprof_dependencies()

Bazel 4.2.3 appends a WORKSPACE suffix that fetches rules_cc, rules_java and
remote_coverage_tools over the network; declaring repositories of the same names first wins,
so this file writes small offline stand-ins for them with a repository rule. Because the rule
writes the files itself, the stand-ins work from any workspace, not only this one.
"""

_RULES_CC_DEFS = """
def cc_library(**kwargs):
    native.cc_library(**kwargs)

def cc_binary(**kwargs):
    native.cc_binary(**kwargs)

def cc_test(**kwargs):
    native.cc_test(**kwargs)

def cc_import(**kwargs):
    native.cc_import(**kwargs)

def cc_toolchain(**kwargs):
    native.cc_toolchain(**kwargs)

def cc_toolchain_suite(**kwargs):
    native.cc_toolchain_suite(**kwargs)

def cc_proto_library(**kwargs):
    native.cc_proto_library(**kwargs)

def objc_library(**kwargs):
    native.objc_library(**kwargs)
"""

_RULES_JAVA_DEFS = """
def java_binary(**kwargs):
    native.java_binary(**kwargs)

def java_import(**kwargs):
    native.java_import(**kwargs)

def java_library(**kwargs):
    native.java_library(**kwargs)

def java_runtime(**kwargs):
    native.java_runtime(**kwargs)

def java_toolchain(**kwargs):
    native.java_toolchain(**kwargs)

def java_test(**kwargs):
    native.java_test(**kwargs)

def java_plugin(**kwargs):
    native.java_plugin(**kwargs)

def java_proto_library(**kwargs):
    native.java_proto_library(**kwargs)

def java_lite_proto_library(**kwargs):
    native.java_lite_proto_library(**kwargs)
"""

_COVERAGE_TOOL = """#!/bin/sh
echo "hookprof: bazel coverage is not available offline; use //:hookprof's /debug/coverage" >&2
exit 1
"""

def _stub_repo_impl(ctx):
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    kind = ctx.attr.kind
    if kind == "rules_cc":
        ctx.file("BUILD", "")
        ctx.file("cc/BUILD", "exports_files([\"defs.bzl\"])\n")
        ctx.file("cc/defs.bzl", _RULES_CC_DEFS)
    elif kind == "rules_java":
        ctx.file("BUILD", "")
        ctx.file("java/BUILD", "exports_files([\"defs.bzl\"])\n")
        ctx.file("java/defs.bzl", _RULES_JAVA_DEFS)
    elif kind == "remote_coverage_tools":
        ctx.file("unavailable.sh", _COVERAGE_TOOL, executable = True)
        ctx.file("BUILD", """
package(default_visibility = ["//visibility:public"])
sh_binary(name = "coverage_report_generator", srcs = ["unavailable.sh"])
sh_binary(name = "lcov_merger", srcs = ["unavailable.sh"])
filegroup(name = "coverage_output_generator", srcs = ["unavailable.sh"])
""")

_stub_repo = repository_rule(
    implementation = _stub_repo_impl,
    attrs = {"kind": attr.string(mandatory = True)},
    local = True,
)

# System libraries. Headers come from /usr/include, which the auto-configured toolchain
# already searches; these targets only carry the link options.
_SYSTEM_BUILD = """
package(default_visibility = ["//visibility:public"])

cc_library(name = "zlib", linkopts = ["-lz"])
cc_library(name = "protobuf", linkopts = ["-lprotobuf", "-lpthread"])
cc_library(name = "boost_beast", linkopts = ["-lpthread"])
cc_library(name = "re2", linkopts = ["-lre2"])
cc_library(name = "libdw", linkopts = ["-ldw", "-lelf"])
cc_library(name = "gtest", linkopts = ["-lgtest", "-lpthread"])
cc_library(name = "gtest_main", linkopts = ["-lgtest_main", "-lgtest", "-lpthread"])
cc_library(name = "gmock", linkopts = ["-lgmock", "-lgtest", "-lpthread"])
cc_library(name = "benchmark", linkopts = ["-lbenchmark", "-lpthread"])
cc_library(name = "benchmark_main", linkopts = ["-lbenchmark_main", "-lbenchmark", "-lpthread"])
cc_library(
    name = "absl",
    linkopts = [
        "-labsl_statusor",
        "-labsl_status",
        "-labsl_str_format_internal",
        "-labsl_strings",
        "-labsl_strings_internal",
        "-labsl_cord",
        "-labsl_cord_internal",
        "-labsl_cordz_info",
        "-labsl_cordz_functions",
        "-labsl_cordz_handle",
        "-labsl_synchronization",
        "-labsl_time",
        "-labsl_time_zone",
        "-labsl_int128",
        "-labsl_throw_delegate",
        "-labsl_raw_logging_internal",
        "-labsl_base",
        "-labsl_spinlock_wait",
        "-lpthread",
    ],
)
"""

def _system_repo_impl(ctx):
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _SYSTEM_BUILD)
    for tool in ["protoc"]:
        if not ctx.which(tool):
            fail("hookprof: '%s' is missing: apt-get install protobuf-compiler libprotobuf-dev" % tool)

_system_repo = repository_rule(implementation = _system_repo_impl, local = True)

_CHARTS_FILES = [
    "node_modules/uplot/dist/uPlot.iife.min.js",
    "node_modules/uplot/dist/uPlot.min.css",
    "node_modules/uplot/LICENSE",
]

def _charts_repo_impl(ctx):
    # The charts page embeds uPlot at build time: installed here from the npm registry at the
    # version tools/charts/package-lock.json pins (npm ci: the lockfile exactly), so that a
    # pristine checkout, an archive or a read-only one builds without running anything first.
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    for name in ["package.json", "package-lock.json"]:
        ctx.file(name, ctx.read(ctx.path(Label("@hookprof//tools/charts:" + name))))
    npm = ctx.which("npm")
    if not npm:
        fail("hookprof: npm is missing (the live charts page embeds uPlot from npm, pinned by " +
             "tools/charts/package-lock.json): apt-get install npm")
    result = ctx.execute(
        [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
        environment = {
            "HOME": str(ctx.path(".")),
            "npm_config_cache": str(ctx.path(".npm-cache")),
        },
        timeout = 600,
    )
    if result.return_code != 0:
        fail("hookprof: npm ci for the charts library failed:\n" + result.stderr)
    ctx.file("BUILD", "exports_files(%r, visibility = [\"//visibility:public\"])\n" % _CHARTS_FILES)

_charts_repo = repository_rule(implementation = _charts_repo_impl)

def hookprof_dependencies():
    """Declares every repository hookprof needs; call it from WORKSPACE before anything else."""
    existing = native.existing_rules()
    for kind in ["rules_cc", "rules_java", "remote_coverage_tools"]:
        if kind not in existing:
            _stub_repo(name = kind, kind = kind)
    if "hookprof_system" not in existing:
        _system_repo(name = "hookprof_system")
    if "hookprof_charts" not in existing:
        _charts_repo(name = "hookprof_charts")
