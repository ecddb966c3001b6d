// The /debug/charts/ page and the charting library (uPlot, from npm), embedded at build time so
// the page works offline and from any context path.
#ifndef HOOKPROF_SERVER_ENDPOINTS_CHARTS_ASSETS_H_
#define HOOKPROF_SERVER_ENDPOINTS_CHARTS_ASSETS_H_

#include <stddef.h>

#include <string>

namespace hookprof {
namespace server {

struct ChartAsset {
  const char* name;  // Under /debug/charts/: "" (the page), "uplot.js", "uplot.css", ...
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

const ChartAsset* FindChartAsset(const std::string& name);

}  // namespace server
}  // namespace hookprof

#endif  // HOOKPROF_SERVER_ENDPOINTS_CHARTS_ASSETS_H_
