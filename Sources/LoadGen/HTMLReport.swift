import Foundation

/// One self-contained HTML page for one or more load reports: a summary table, latency over time and
/// the percentile spectrum as inline SVG (no scripts, no external resources).
public enum HTMLReport {
    public static func render(title: String, reports: [(name: String, report: LoadReport)]) -> String {
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        var rows = ""
        for (name, r) in reports {
            rows += "<tr><td>\(esc(name))</td><td>\(Int(r.throughput))</td><td>\(r.result.completed)</td><td>\(r.errorCount)</td>"
            for p in [50.0, 99, 99.9] { rows += "<td>\(ms(r.latency(p)))</td><td>\(ms(r.latency(p, corrected: false)))</td>" }
            rows += "<td>\(ms(r.result.corrected.max))</td><td>\(r.configuration.verify ? "\(r.result.verifyChecked)/\(r.result.verifyMismatched.values.reduce(0, +))" : "–")</td></tr>\n"
        }
        let legend = reports.enumerated().map { i, r in "<span style=\"color:\(colors[i % colors.count])\">■ \(esc(r.name))</span>" }.joined(separator: " &nbsp; ")
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>\(esc(title))</title>
        <style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
        th{background:#f3f3f3}td:first-child{text-align:left}h2{margin-top:28px}svg{background:#fff;border:1px solid #ddd}</style></head><body>
        <h1>\(esc(title))</h1>
        <table><tr><th>run</th><th>req/s</th><th>completed</th><th>errors</th><th>p50 ms</th><th>p50 ms (uncorr.)</th><th>p99 ms</th><th>p99 ms (uncorr.)</th>
        <th>p99.9 ms</th><th>p99.9 ms (uncorr.)</th><th>max ms</th><th>verified/mismatched</th></tr>
        \(rows)</table>
        <p>Corrected latency counts from each request's intended send time (open loop) and includes queueing; uncorrected counts from the actual send.</p>
        <h2>Latency over time (p99 per second, corrected)</h2><p>\(legend)</p>
        \(overTime(reports.map { $0.report }, colors))
        <h2>Percentile spectrum (corrected)</h2><p>\(legend)</p>
        \(spectrum(reports.map { $0.report }, colors))
        </body></html>
        """
    }

    static func ms(_ us: UInt64) -> String { String(format: "%.3f", Double(us) / 1000) }
    static func esc(_ s: String) -> String { s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;") }

    static func overTime(_ reports: [LoadReport], _ colors: [String]) -> String {
        let w = 720.0, h = 260.0, pad = 50.0
        let maxY = max(1, reports.flatMap { $0.result.perSecondP99 }.max() ?? 1)
        let maxX = max(1, reports.map { $0.result.perSecondP99.count }.max() ?? 1)
        var svg = "<svg width=\"\(Int(w))\" height=\"\(Int(h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += axes(w, h, pad, xLabel: "seconds", yLabel: "p99 ms", yMax: Double(maxY) / 1000)
        for (i, r) in reports.enumerated() {
            let pts = r.result.perSecondP99.enumerated().map { x, v in
                "\(pad + Double(x) / Double(max(1, maxX - 1)) * (w - 2 * pad)),\(h - pad - Double(v) / Double(maxY) * (h - 2 * pad))"
            }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"2\" points=\"\(pts)\"/>"
        }
        return svg + "</svg>"
    }

    static func spectrum(_ reports: [LoadReport], _ colors: [String]) -> String {
        let w = 720.0, h = 260.0, pad = 50.0
        let ps: [Double] = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999]
        let maxY = max(1, reports.map { $0.result.corrected.max }.max() ?? 1)
        let xmax = log10(1 / (1 - 0.99999))
        var svg = "<svg width=\"\(Int(w))\" height=\"\(Int(h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += axes(w, h, pad, xLabel: "percentile (log scale of 1/(1-p))", yLabel: "ms", yMax: Double(maxY) / 1000)
        for (k, label) in [(0.0, "0%"), (1, "90%"), (2, "99%"), (3, "99.9%"), (4, "99.99%"), (5, "99.999%")] {
            let x = pad + k / xmax * (w - 2 * pad)
            svg += "<text x=\"\(x)\" y=\"\(h - pad + 14)\" font-size=\"10\" text-anchor=\"middle\">\(label)</text>"
        }
        for (i, r) in reports.enumerated() where r.result.corrected.totalCount > 0 {
            let pts = ps.map { p -> String in
                let x = pad + log10(1 / (1 - min(p, 99.9999) / 100)) / xmax * (w - 2 * pad)
                let v = Double(r.latency(p))
                return "\(x),\(h - pad - v / Double(maxY) * (h - 2 * pad))"
            }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"2\" points=\"\(pts)\"/>"
        }
        return svg + "</svg>"
    }

    static func axes(_ w: Double, _ h: Double, _ pad: Double, xLabel: String, yLabel: String, yMax: Double) -> String {
        var s = "<line x1=\"\(pad)\" y1=\"\(h - pad)\" x2=\"\(w - pad)\" y2=\"\(h - pad)\" stroke=\"#444\"/>"
        s += "<line x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(h - pad)\" stroke=\"#444\"/>"
        for k in 0...4 {
            let y = h - pad - Double(k) / 4 * (h - 2 * pad)
            s += "<line x1=\"\(pad)\" y1=\"\(y)\" x2=\"\(w - pad)\" y2=\"\(y)\" stroke=\"#eee\"/>"
            s += "<text x=\"\(pad - 6)\" y=\"\(y + 4)\" font-size=\"10\" text-anchor=\"end\">\(String(format: "%.2f", yMax * Double(k) / 4))</text>"
        }
        s += "<text x=\"\(w / 2)\" y=\"\(h - 12)\" font-size=\"11\" text-anchor=\"middle\">\(xLabel)</text>"
        s += "<text x=\"14\" y=\"\(h / 2)\" font-size=\"11\" transform=\"rotate(-90 14 \(h / 2))\" text-anchor=\"middle\">\(yLabel)</text>"
        return s
    }
}
