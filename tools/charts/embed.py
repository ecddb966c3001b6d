#!/usr/bin/env python3
"""Writes a C++ source holding files as byte arrays: embed.py OUT.cc NAME|TYPE|PATH ..."""
import sys


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    lines = ['#include "server/endpoints/charts_assets.h"', "", "#include <string.h>", "",
             "namespace hookprof {", "namespace server {", "namespace {", ""]
    entries = []
    for i, spec in enumerate(specs):
        name, content_type, path = spec.split("|", 2)
        data = open(path, "rb").read()
        lines.append("const unsigned char kData%d[] = {" % i)
        for off in range(0, len(data), 24):
            lines.append("    " + ",".join(str(b) for b in data[off:off + 24]) + ",")
        lines.append("};")
        entries.append('    {"%s", "%s", kData%d, %d},' % (name, content_type, i, len(data)))
    lines += ["", "const ChartAsset kAssets[] = {"] + entries + ["};", "", "}  // namespace", "",
              "const ChartAsset* FindChartAsset(const std::string& name) {",
              "  for (const ChartAsset& a : kAssets) {",
              "    if (name == a.name) return &a;",
              "  }",
              "  return nullptr;",
              "}", "", "}  // namespace server", "}  // namespace hookprof", ""]
    open(out, "w").write("\n".join(lines))


if __name__ == "__main__":
    main()
