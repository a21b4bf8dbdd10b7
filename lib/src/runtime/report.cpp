// Test reports: the summary people read, JUnit XML for CI servers, JSON for programs.
#include "common/names.hpp"
#include "common/strings.hpp"
#include "ocibake/harness.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace ocibake {

namespace {

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2fs", s);
    return buf;
}

constexpr detail::Named<TestStatus> status_labels[] = {
    {TestStatus::passed, "PASS"},
    {TestStatus::failed, "FAIL"},
    {TestStatus::skipped, "SKIP"},
};

std::string label(TestStatus status) {
    return detail::name_of(status_labels, status, "FAIL");
}

/// The last `lines` lines of `text`, each indented.
std::string tail(const std::string& text, std::size_t lines, const std::string& indent) {
    std::vector<std::string_view> all;
    std::string_view rest(text);
    while (!rest.empty()) {
        std::size_t nl = rest.find('\n');
        all.push_back(rest.substr(0, nl));
        if (nl == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(nl + 1);
    }
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
        out += indent + std::string(all[i]) + "\n";
    }
    return out;
}

/// Valid XML 1.0 character data: escaped, control characters (other than tab, newline,
/// carriage return) and invalid UTF-8 replaced by U+FFFD.
std::string xml_text(std::string_view in) {
    static const std::string replacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        auto c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                    out += replacement;
                } else {
                    out += static_cast<char>(c);
                }
            }
            ++i;
            continue;
        }
        // A UTF-8 sequence: its length from the lead byte, then continuation bytes, no
        // overlong forms, no surrogates, nothing above U+10FFFF; U+FFFE/U+FFFF are not
        // XML characters either.
        std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        std::uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
        bool ok = len != 0 && c <= 0xF4 && i + len <= in.size();
        for (std::size_t k = 1; ok && k < len; ++k) {
            auto cc = static_cast<unsigned char>(in[i + k]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (!ok) {
            out += replacement; // a broken sequence: one byte at a time
            ++i;
            continue;
        }
        bool allowed = !(len == 3 && cp < 0x800) &&
                       !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
                       !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
        if (allowed) {
            out.append(in.substr(i, len));
        } else {
            out += replacement; // well formed, but not an XML character: one for all
        }
        i += len;
    }
    return out;
}

} // namespace

std::string result_text(const TestResult& r) {
    char line[256];
    std::snprintf(line, sizeof line, "  %s  %-28s %-9s %s\n", label(r.status).c_str(),
                  r.name.c_str(), to_string(r.type), seconds_text(r.seconds).c_str());
    std::string out = line;
    for (const std::string& reason : r.reasons) {
        out += "        " + reason + "\n";
    }
    if (r.status == TestStatus::failed) {
        if (!r.out.empty()) {
            out += "        stdout (last lines):\n" + tail(r.out, 10, "          | ");
        }
        if (!r.err.empty()) {
            out += "        stderr (last lines):\n" + tail(r.err, 10, "          | ");
        }
    }
    return out;
}

std::string totals_text(const TestReport& report) {
    std::string notes;
    if (report.isolation.starts_with("one rootfs")) {
        notes += "note: " + report.isolation + "\n";
    }
    if (!report.gpus.empty()) {
        notes += "gpus: " + report.gpus + "\n";
    }
    return notes + std::to_string(report.results.size()) +
           " tests: " + std::to_string(report.passed()) + " passed, " +
           std::to_string(report.failed()) + " failed, " + std::to_string(report.skipped()) +
           " skipped (" + seconds_text(report.seconds) + ", " + std::to_string(report.jobs) +
           (report.jobs == 1 ? " job" : " jobs") +
           (report.runtime.empty() ? "" : "; " + report.runtime) + ")\n";
}

std::string summary_text(const TestReport& report) {
    std::string out;
    for (const TestResult& r : report.results) {
        out += result_text(r);
    }
    return out + totals_text(report);
}

std::string junit_xml(const TestReport& report) {
    char time[32];
    std::snprintf(time, sizeof time, "%.3f", report.seconds);
    std::string counts = " tests=\"" + std::to_string(report.results.size()) + "\" failures=\"" +
                         std::to_string(report.failed()) + "\" errors=\"0\" skipped=\"" +
                         std::to_string(report.skipped()) + "\" time=\"" + time + "\"";
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += "<testsuites name=\"ocibake test\"" + counts + ">\n";
    out += "  <testsuite name=\"" + xml_text(report.image) + "\"" + counts + ">\n";
    out += "    <properties>\n";
    out += "      <property name=\"image.digest\" value=\"" + xml_text(report.digest) + "\"/>\n";
    out += "      <property name=\"runtime\" value=\"" + xml_text(report.runtime) + "\"/>\n";
    out += "      <property name=\"gpus\" value=\"" + xml_text(report.gpus) + "\"/>\n";
    out += "      <property name=\"isolation\" value=\"" + xml_text(report.isolation) + "\"/>\n";
    out += "      <property name=\"jobs\" value=\"" + std::to_string(report.jobs) + "\"/>\n";
    out += "    </properties>\n";
    for (const TestResult& r : report.results) {
        std::snprintf(time, sizeof time, "%.3f", r.seconds);
        out += "    <testcase name=\"" + xml_text(r.name) + "\" classname=\"ocibake." +
               to_string(r.type) + "\" time=\"" + time + "\"";
        bool body = r.status != TestStatus::passed || !r.out.empty() || !r.err.empty();
        if (!body) {
            out += "/>\n";
            continue;
        }
        out += ">\n";
        std::string first = r.reasons.empty() ? "" : r.reasons.front();
        if (r.status == TestStatus::failed) {
            out += "      <failure message=\"" + xml_text(first) + "\">" +
                   xml_text(detail::join(r.reasons, "\n")) + "</failure>\n";
        } else if (r.status == TestStatus::skipped) {
            out += "      <skipped message=\"" + xml_text(first) + "\"/>\n";
        }
        if (!r.out.empty()) {
            out += "      <system-out>" + xml_text(r.out) + "</system-out>\n";
        }
        if (!r.err.empty()) {
            out += "      <system-err>" + xml_text(r.err) + "</system-err>\n";
        }
        out += "    </testcase>\n";
    }
    out += "  </testsuite>\n</testsuites>\n";
    return out;
}

std::string report_json(const TestReport& report) {
    using json = nlohmann::ordered_json;
    json tests = json::array();
    for (const TestResult& r : report.results) {
        json t = {{"name", r.name},
                  {"type", to_string(r.type)},
                  {"status", to_string(r.status)},
                  {"seconds", r.seconds},
                  {"reasons", r.reasons}};
        if (r.exit_code) {
            t["exit_code"] = *r.exit_code;
            t["stdout"] = r.out;
            t["stderr"] = r.err;
        }
        tests.push_back(t);
    }
    json out = {{"schema", "ocibake.test-report/1"},
                {"image", report.image},
                {"digest", report.digest},
                {"runtime", report.runtime},
                {"gpus", report.gpus},
                {"isolation", report.isolation},
                {"jobs", report.jobs},
                {"passed", report.passed()},
                {"failed", report.failed()},
                {"skipped", report.skipped()},
                {"seconds", report.seconds},
                {"tests", tests}};
    return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace ocibake
