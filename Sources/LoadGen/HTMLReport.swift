import Foundation

/// One self-contained HTML page for one or more load reports: the runs' parameters, a summary table, what
/// every answer was (statuses, errors, never sent), latency over time and the percentile spectrum as
/// inline SVG (no scripts, no external resources). Axes have round ticks with their unit in the title.
public enum HTMLReport {
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]

    public static func render(title: String, reports: [(name: String, report: LoadReport)]) -> String {
        var params = ""
        for (name, r) in reports {
            let c = r.configuration
            let load =
                c.rate.map { "open loop, \(Int($0)) req/s" } ?? (c.pacing != nil ? "open loop, cassette pacing ×\(c.speed)" : "closed loop")
            params +=
                "<tr><td>\(esc(name))</td><td>\(esc(c.target.url))</td><td>\(load)</td><td>\(c.rate == nil ? "–" : c.arrival.rawValue)</td>"
            params += "<td>\(c.connections)</td><td>\(c.threads)</td><td>\(String(format: "%.1f", r.seconds)) s</td>"
            params += "<td>\(label(Double(c.timeout.nanoseconds) / 1e9)) s</td><td>\(c.verify ? "yes" : "no")</td></tr>\n"
        }
        var rows = ""
        for (name, r) in reports {
            rows += "<tr><td>\(esc(name))</td><td>\(Int(r.throughput))</td><td>\(r.result.completed)</td><td>\(r.errorCount)</td>"
            for p in [50.0, 99, 99.9] { rows += "<td>\(ms(r.latency(p)))</td><td>\(ms(r.latency(p, corrected: false)))</td>" }
            rows +=
                "<td>\(ms(r.result.corrected.max))</td><td>\(r.configuration.verify ? "\(r.result.verifyChecked)/\(r.result.verifyMismatched.values.reduce(0, +))" : "–")</td></tr>\n"
        }
        var outcomes = ""
        for (name, r) in reports {
            let res = r.result
            var cells: [(String, Int)] = res.statuses.keys.sorted().map { ("HTTP \($0)", res.statuses[$0]!) }
            cells += res.errors.keys.sorted().map { ("error: \($0)", res.errors[$0]!) }
            cells += res.tapedeckCodes.keys.sorted().map { ("answered \($0)", res.tapedeckCodes[$0]!) }
            cells += [("unanswered at the end", res.unanswered), ("never sent", res.neverSent)].filter { $0.1 > 0 }
            if res.connectFailures > 0 { cells.append(("failed connection attempts (retried)", res.connectFailures)) }
            for (i, (what, n)) in cells.enumerated() {
                outcomes += "<tr><td>\(i == 0 ? esc(name) : "")</td><td>\(esc(what))</td><td>\(n)</td>"
                outcomes +=
                    "<td>\(res.scheduled > 0 ? String(format: "%.2f%%", Double(n) * 100 / Double(max(res.scheduled, res.sent))) : "–")</td></tr>\n"
            }
        }
        let warnings = reports.flatMap { name, r in
            ([r.scheduleWarning].compactMap { $0 } + r.tapedeckExplanations).map {
                "<p class=\"warn\">⚠ \(esc(name)): \(esc($0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "⚠ ", with: "")))</p>"
            } + r.configuration.notes.map { "<p class=\"note\">\(esc(name)): \(esc($0))</p>" }
        }.joined(separator: "\n")
        let legend = reports.enumerated().map { i, r in "<span style=\"color:\(colors[i % colors.count])\">■ \(esc(r.name))</span>" }
            .joined(separator: " &nbsp; ")
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>\(esc(title))</title>
            <style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
            th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}h2{margin-top:28px}svg{background:#fff;border:1px solid #ddd}.warn{color:#a40}.note{color:#555}</style></head><body>
            <h1>\(esc(title))</h1>
            <h2>Run</h2>
            <table><tr><th>run</th><th>target</th><th>load</th><th>arrival</th><th>connections</th><th>threads</th><th>measured</th><th>timeout</th><th>verify</th></tr>
            \(params)</table>
            \(warnings)
            <h2>Summary</h2>
            <table><tr><th>run</th><th>req/s</th><th>completed</th><th>errors</th><th>p50 ms</th><th>p50 ms (uncorr.)</th><th>p99 ms</th><th>p99 ms (uncorr.)</th>
            <th>p99.9 ms</th><th>p99.9 ms (uncorr.)</th><th>max ms</th><th>verified/mismatched</th></tr>
            \(rows)</table>
            <p>Corrected latency counts from each request's intended send time (open loop) and includes queueing; uncorrected counts from the actual send.</p>
            <h2>Outcomes</h2>
            <table><tr><th>run</th><th>outcome</th><th>requests</th><th>share</th></tr>
            \(outcomes)</table>
            <h2>Latency over time (p99 per second, corrected)</h2><p>\(legend)</p>
            \(overTime(reports.map { $0.report }))
            <h2>Percentile spectrum (corrected)</h2><p>\(legend)</p>
            \(spectrum(reports.map { $0.report }))
            </body></html>
            """
    }

    static func ms(_ us: UInt64) -> String { String(format: "%.3f", Double(us) / 1000) }
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        )
        .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A round step (1, 2 or 5 × 10ⁿ) giving at most `maxTicks` ticks up to `max`.
    public static func niceStep(_ max: Double, maxTicks: Int = 6) -> Double {
        guard max > 0 else { return 1 }
        let raw = max / Double(maxTicks)
        let magnitude = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * magnitude >= raw { return m * magnitude }
        return 10 * magnitude
    }

    /// A latency unit for values up to `maxMicros`: µs below 1 ms, ms below 10 s, else s.
    public static func latencyUnit(_ maxMicros: Double) -> (name: String, divisor: Double) {
        maxMicros < 1000 ? ("µs", 1) : maxMicros < 10_000_000 ? ("ms", 1000) : ("s", 1_000_000)
    }

    static func label(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(format: v < 0.1 ? "%.3g" : "%.2g", v).replacingOccurrences(of: "e-0", with: "e-")
    }

    struct Plot {
        let w = 760.0, h = 280.0, left = 70.0, right = 20.0, top = 16.0, bottom = 52.0
        var plotW: Double { w - left - right }
        var plotH: Double { h - top - bottom }
        func x(_ f: Double) -> Double { left + f * plotW }
        func y(_ f: Double) -> Double { top + plotH - f * plotH }
    }

    /// Y grid and labels from 0 to a round maximum at or above `maxValue` (in display units); returns the SVG and that maximum.
    static func yAxis(_ p: Plot, maxValue: Double, title: String) -> (String, Double) {
        let step = niceStep(maxValue)
        let top = max(step, (maxValue / step).rounded(.up) * step)
        var s = ""
        var v = 0.0
        while v <= top + step / 2 {
            let y = p.y(v / top)
            s += "<line x1=\"\(p.left)\" y1=\"\(y)\" x2=\"\(p.w - p.right)\" y2=\"\(y)\" stroke=\"#eee\"/>"
            s += "<text x=\"\(p.left - 6)\" y=\"\(y + 4)\" font-size=\"11\" text-anchor=\"end\">\(label(v))</text>"
            v += step
        }
        s += "<line x1=\"\(p.left)\" y1=\"\(p.top)\" x2=\"\(p.left)\" y2=\"\(p.top + p.plotH)\" stroke=\"#444\"/>"
        s += "<line x1=\"\(p.left)\" y1=\"\(p.top + p.plotH)\" x2=\"\(p.w - p.right)\" y2=\"\(p.top + p.plotH)\" stroke=\"#444\"/>"
        s +=
            "<text x=\"16\" y=\"\(p.top + p.plotH / 2)\" font-size=\"12\" transform=\"rotate(-90 16 \(p.top + p.plotH / 2))\" text-anchor=\"middle\">\(esc(title))</text>"
        return (s, top)
    }

    static func overTime(_ reports: [LoadReport]) -> String {
        let p = Plot()
        let maxMicros = Double(reports.flatMap { $0.result.perSecondP99 }.max() ?? 0)
        let unit = latencyUnit(maxMicros)
        let seconds = max(1, reports.map { $0.result.perSecondP99.count }.max() ?? 1)
        var svg = "<svg width=\"\(Int(p.w))\" height=\"\(Int(p.h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        let (yAxis, yTop) = yAxis(p, maxValue: max(maxMicros / unit.divisor, 1e-3), title: "p99 latency (\(unit.name))")
        svg += yAxis
        // Second i covers [i, i+1): its point sits at i+1 (its end); ticks at round seconds.
        let span = Double(seconds)
        let step = max(1, niceStep(span, maxTicks: 10))
        var t = 0.0
        while t <= span + 1e-9 {
            let x = p.x(t / span)
            svg += "<line x1=\"\(x)\" y1=\"\(p.top + p.plotH)\" x2=\"\(x)\" y2=\"\(p.top + p.plotH + 5)\" stroke=\"#444\"/>"
            svg += "<text x=\"\(x)\" y=\"\(p.top + p.plotH + 18)\" font-size=\"11\" text-anchor=\"middle\">\(label(t))</text>"
            t += step
        }
        svg +=
            "<text x=\"\(p.left + p.plotW / 2)\" y=\"\(p.h - 10)\" font-size=\"12\" text-anchor=\"middle\">time since the start of measurement (s)</text>"
        for (i, r) in reports.enumerated() {
            let pts = r.result.perSecondP99.enumerated().map { x, v in
                "\(p.x(Double(x + 1) / span)),\(p.y(Double(v) / unit.divisor / yTop))"
            }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"2\" points=\"\(pts)\"/>"
        }
        return svg + "</svg>"
    }

    static func spectrum(_ reports: [LoadReport]) -> String {
        let p = Plot()
        let ps: [Double] = [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999]
        let maxMicros = Double(reports.map { $0.result.corrected.max }.max() ?? 0)
        let unit = latencyUnit(maxMicros)
        let xmax = 5.0  // log10(1 / (1 - 0.99999))
        var svg = "<svg width=\"\(Int(p.w))\" height=\"\(Int(p.h))\" xmlns=\"http://www.w3.org/2000/svg\">"
        let (yAxis, yTop) = yAxis(p, maxValue: max(maxMicros / unit.divisor, 1e-3), title: "latency (\(unit.name))")
        svg += yAxis
        for (k, label) in [(0.0, "0%"), (1, "90%"), (2, "99%"), (3, "99.9%"), (4, "99.99%"), (5, "99.999%")] {
            let x = p.x(k / xmax)
            svg += "<line x1=\"\(x)\" y1=\"\(p.top + p.plotH)\" x2=\"\(x)\" y2=\"\(p.top + p.plotH + 5)\" stroke=\"#444\"/>"
            svg += "<text x=\"\(x)\" y=\"\(p.top + p.plotH + 18)\" font-size=\"11\" text-anchor=\"middle\">\(label)</text>"
        }
        svg += "<text x=\"\(p.left + p.plotW / 2)\" y=\"\(p.h - 10)\" font-size=\"12\" text-anchor=\"middle\">percentile (log scale)</text>"
        for (i, r) in reports.enumerated() where r.result.corrected.totalCount > 0 {
            let pts = ps.map { q -> String in
                let x = p.x(log10(1 / (1 - min(q, 99.999) / 100)) / xmax)
                return "\(x),\(p.y(Double(r.latency(q)) / unit.divisor / yTop))"
            }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"2\" points=\"\(pts)\"/>"
        }
        return svg + "</svg>"
    }
}
