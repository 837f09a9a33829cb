"""The page's Jinja2 template (a module, not a data file, so an installed wheel carries it)."""

PAGE = r"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="gridrisk-report" content="{{ r.ds }} {{ r.scope.unit or '32' }}">
<title>风险研判日报 · {{ r.scope_label }} · {{ r.ds }}</title>
<style>
:root { --ink: #1c2833; --muted: #5d6d7e; --line: #d5d8dc; --accent: #c0392b; --bg: #f8f9f9; }
* { box-sizing: border-box; }
body { margin: 0; font-family: {{ font_stack|safe }}; color: var(--ink); background: var(--bg); font-size: 14px; }
header { background: #1c2833; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; color: #d5d8dc; }
main { padding: 8px 28px 40px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 18px 0; padding: 16px 20px; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 18px 0 8px; color: var(--muted); }
.kpis { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 10px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.kpi b { display: block; font-size: 26px; }
.kpi span { color: var(--muted); }
.up { color: var(--accent); } .down { color: #1e8449; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f2f3f4; position: sticky; top: 0; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
.chart { min-height: 120px; }
.note { color: var(--muted); font-size: 12px; }
.notes li { color: #935116; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 6px; }
.controls input, .controls select { font: inherit; padding: 4px 6px; }
#drill th { cursor: pointer; user-select: none; }
#drill th[aria-sort="ascending"]::after { content: " ▲"; } #drill th[aria-sort="descending"]::after { content: " ▼"; }
.scroll { max-height: 640px; overflow: auto; border: 1px solid var(--line); }
.sev-critical { color: #922b21; font-weight: 600; } .sev-high { color: #c0392b; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 30px; }
</style>
</head>
<body>
<header>
<h1>风险研判日报 · {{ r.scope_label }}</h1>
<p>逻辑日期 {{ r.ds }} · 趋势 {{ r.days }} 日 · 数据：gold risk_flags（版本 {{ r.flags_version }}，即 {{ r.ds }} 运行所留状态）、gold risk_summary、任务库、bronze 入湖与质量日志</p>
</header>
<main>
{% if r.notes %}
<section id="notes"><h2>说明</h2><ul class="notes">{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul></section>
{% endif %}

<section id="headline">
<h2>当日要点</h2>
<div class="kpis">
  <div class="kpi" data-kpi="open"><b>{{ totals.open|int }}</b><span>未结风险标记</span>
  {% if open_before is not none %}<div class="{{ 'up' if totals.open > open_before else 'down' }}" data-kpi="change">较前一日 {{ (totals.open - open_before)|change }}</div>{% endif %}</div>
  <div class="kpi" data-kpi="new"><b>{{ totals.new|int }}</b><span>当日新增</span></div>
  <div class="kpi" data-kpi="resolved"><b>{{ totals.resolved|int }}</b><span>当日消除</span></div>
  <div class="kpi" data-kpi="open_high"><b>{{ totals.open_high|int }}</b><span>其中高危/严重</span></div>
  <div class="kpi" data-kpi="suppressed"><b>{{ totals.suppressed|int }}</b><span>误报抑制中</span></div>
</div>
<h3>按规则</h3>
<table id="by-rule">
<thead><tr><th>规则</th><th>编号</th><th class="n">未结</th><th class="n">前一日</th><th class="n">变化</th><th class="n">新增</th><th class="n">消除</th><th class="n">高危</th><th class="n">抑制</th></tr></thead>
<tbody>
{% for row in by_rule %}
<tr data-rule="{{ row.rule_id }}"><td>{{ r.titles.get(row.rule_id, row.rule_id) }}</td><td>{{ row.rule_id }}</td>
<td class="n" data-field="open">{{ row.open|int }}</td><td class="n" data-field="open_before">{{ row.open_before|int }}</td>
<td class="n" data-field="change">{{ row.change|change }}</td><td class="n" data-field="new">{{ row.new|int }}</td>
<td class="n" data-field="resolved">{{ row.resolved|int }}</td><td class="n" data-field="open_high">{{ row.open_high|int }}</td>
<td class="n" data-field="suppressed">{{ row.suppressed|int }}</td></tr>
{% else %}<tr><td colspan="9">当日没有风险标记</td></tr>{% endfor %}
</tbody></table>
<div class="charts">
<div class="chart" id="chart-by_rule" data-chart-box="by_rule"></div>
<div class="chart" id="chart-trend" data-chart-box="trend"></div>
</div>
</section>

<section id="districts">
<h2>按市 / 区县</h2>
<div class="charts"><div class="chart" id="chart-by_district" data-chart-box="by_district"></div></div>
<table id="by-district">
<thead><tr><th>市</th><th>区县</th><th>名称</th><th class="n">未结</th><th class="n">前一日</th><th class="n">变化</th><th class="n">新增</th><th class="n">消除</th><th class="n">高危</th></tr></thead>
<tbody>
{% for row in by_district %}
<tr data-district="{{ row.district_code }}"><td>{{ row.city_code }}</td><td>{{ row.district_code }}</td><td>{{ row.name }}</td>
<td class="n" data-field="open">{{ row.open|int }}</td><td class="n" data-field="open_before">{{ row.open_before|int }}</td>
<td class="n" data-field="change">{{ row.change|change }}</td><td class="n" data-field="new">{{ row.new|int }}</td>
<td class="n" data-field="resolved">{{ row.resolved|int }}</td><td class="n" data-field="open_high">{{ row.open_high|int }}</td></tr>
{% endfor %}
</tbody></table>
</section>

<section id="map">
<h2>风险地图</h2>
{% if specs.map is defined %}
<div class="chart" id="chart-map" data-chart-box="map"></div>
<p class="note">按参考网格面（bronze grids）着色，无底图、无瓦片服务。{% if data.map.unmapped %}{{ data.map.unmapped|int }} 条未结标记没有可上图的网格编码，未画出。{% endif %}
{% if r.tracks %}蓝线：{{ r.tracks|length }} 条被标记车辆的轨迹（取自标记证据）。{% else %}危化品车辆轨迹：当前没有带轨迹证据的标记（危化品规则上线后自动显示）。{% endif %}</p>
{% else %}<p>没有网格参考数据，无法绘制地图。</p>{% endif %}
</section>

<section id="cases">
<h2>案件办理（近 {{ r.days }} 日，截至 {{ r.ds }} 24:00）</h2>
{% if r.case_total %}
<div class="kpis">
  <div class="kpi"><b data-total="filed">{{ r.case_total.filed|int }}</b><span>立案</span></div>
  <div class="kpi"><b data-total="closed">{{ r.case_total.closed|int }}</b><span>结案</span></div>
  <div class="kpi"><b data-total="on_time_rate">{{ r.case_total.on_time_rate|rate }}</b><span>按期结案率</span></div>
  <div class="kpi"><b data-total="overdue">{{ r.case_total.overdue|int }}</b><span>超期未结</span></div>
</div>
<div class="charts">
<div class="chart" id="chart-cases" data-chart-box="cases"></div>
<div class="chart" id="chart-steps" data-chart-box="steps"></div>
</div>
<div class="scroll"><table id="case-table">
<thead><tr><th>接收单位</th><th>名称</th><th>部门</th><th class="n">当日立案</th><th class="n">当日结案</th><th class="n">立案</th><th class="n">结案</th><th class="n">按期结案</th><th class="n">按期率</th><th class="n">系统结案</th><th class="n">超期</th>{% for key, label in steps %}<th class="n">{{ label }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in cases %}
<tr data-unit="{{ row.unit }}" data-department="{{ row.department }}"><td>{{ row.unit }}</td><td>{{ row.name }}</td><td>{{ row.department }}</td>
<td class="n" data-field="filed_day">{{ row.filed_day|int }}</td><td class="n" data-field="closed_day">{{ row.closed_day|int }}</td>
<td class="n" data-field="filed">{{ row.filed|int }}</td><td class="n" data-field="closed">{{ row.closed|int }}</td>
<td class="n" data-field="closed_on_time">{{ row.closed_on_time|int }}</td><td class="n" data-field="on_time_rate">{{ row.on_time_rate|rate }}</td>
<td class="n" data-field="closed_by_system">{{ row.closed_by_system|int }}</td><td class="n" data-field="overdue">{{ row.overdue|int }}</td>
{% for key, label in steps %}<td class="n" data-field="{{ key }}">{{ row[key]|seconds }}</td>{% endfor %}</tr>
{% endfor %}
</tbody></table></div>
<p class="note">立案、结案、按期率与各环节中位用时取自任务库的统计（截至当日 24:00 的事件）；超期 = 当日 24:00 时已过时限仍未结案。用时精确到秒。</p>
{% else %}<p>范围内还没有下发的任务。</p>{% endif %}
</section>

<section id="quality">
<h2>数据质量（{{ r.ds }}）</h2>
{% if quality %}
<div class="charts"><div class="chart" id="chart-quality" data-chart-box="quality"></div></div>
<table id="quality-departments">
<thead><tr><th>部门</th><th class="n">数据集</th><th class="n">读取</th><th class="n">接收</th><th class="n">隔离</th><th class="n">未通过的校验套件</th></tr></thead>
<tbody>{% for row in quality_departments %}
<tr data-department="{{ row.department }}"><td>{{ row.department }}</td><td class="n">{{ row.datasets|int }}</td>
<td class="n" data-field="rows_read">{{ row.rows_read|int }}</td><td class="n" data-field="rows_accepted">{{ row.rows_accepted|int }}</td>
<td class="n" data-field="rows_quarantined">{{ row.rows_quarantined|int }}</td><td class="n" data-field="suites_failed">{{ row.suites_failed|int }}</td></tr>
{% endfor %}</tbody></table>
<h3>按数据集</h3>
<table id="quality-datasets">
<thead><tr><th>部门</th><th>数据集</th><th>入湖</th><th class="n">读取</th><th class="n">接收</th><th class="n">隔离</th><th>隔离原因</th><th>校验套件</th><th>未通过的期望</th></tr></thead>
<tbody>{% for row in quality %}
<tr data-dataset="{{ row.dataset }}"><td>{{ row.department }}</td><td>{{ row.dataset }}</td><td>{{ row.ingest_status }}</td>
<td class="n" data-field="rows_read">{{ row.rows_read|int }}</td><td class="n" data-field="rows_accepted">{{ row.rows_accepted|int }}</td>
<td class="n" data-field="rows_quarantined">{{ row.rows_quarantined|int }}</td><td>{{ row.by_reason }}</td>
<td data-field="suite">{{ row.suite }}{% if row.bad_share is not none %}（{{ '%.1f'|format(row.bad_share * 100) }}% 不合格）{% endif %}</td><td>{{ row.failed_expectations }}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p>当日没有入湖记录。</p>{% endif %}
{% if r.data_docs %}<p>校验明细：<a id="data-docs" href="{{ r.data_docs }}">Great Expectations Data Docs</a></p>{% endif %}
</section>

<section id="flags">
<h2>风险标记明细</h2>
<p class="note">姓名已脱敏、主体键已截短；说明为分析人员版本。{% if data.drill_total > data.drill_shown %}共 {{ data.drill_total|int }} 条，页面只列出最紧急的 {{ data.drill_shown|int }} 条（上限 {{ data.drill_cap|int }}），完整清单请用 <code>gridrisk flags --as-of {{ r.ds }}</code>。{% endif %}</p>
<div class="controls">
<input id="drill-search" type="search" placeholder="筛选：网格、单位、说明…" aria-label="筛选">
<select id="drill-rule" aria-label="规则"><option value="">全部规则</option>{% for rid, title in r.titles.items() %}<option value="{{ rid }}">{{ title }}</option>{% endfor %}</select>
<select id="drill-severity" aria-label="等级"><option value="">全部等级</option>{% for s, label in severity_labels.items() %}<option value="{{ s }}">{{ label }}</option>{% endfor %}</select>
<span id="drill-count" class="note"></span>
</div>
<div class="scroll"><table id="drill">
<thead><tr><th data-sort="text">标记</th><th data-sort="text">规则</th><th data-sort="text">等级</th><th data-sort="num">优先级</th><th data-sort="text">主体</th><th data-sort="text">网格</th><th data-sort="text">地点</th><th data-sort="text">接收单位</th><th data-sort="text">部门</th><th data-sort="text">立案日</th><th data-sort="text">说明</th></tr></thead>
<tbody>
{% for row in drill %}
<tr data-rule="{{ row.rule_id }}" data-severity="{{ row.severity }}"><td>{{ row.flag }}</td><td title="{{ row.rule_id }}">{{ row.rule }}</td>
<td class="sev-{{ row.severity }}">{{ row.severity|severity }}</td><td class="n">{{ row.priority if row.priority is not none else '' }}</td>
<td>{{ row.subject }}</td><td>{{ row.grid_code }}</td><td>{{ row.place }}</td><td>{{ row.receiving_unit }}</td><td>{{ row.department }}</td>
<td>{{ row.opened_on }}</td><td>{{ row.explanation }}</td></tr>
{% endfor %}
</tbody></table></div>
</section>
</main>
<footer>gridrisk 风险研判日报 · 由湖中数据重建可得相同内容 · 本页离线可用</footer>
<script type="application/json" id="report-data">{{ data_json|safe }}</script>
{% for name, spec in specs.items() %}
<script type="application/json" data-chart="{{ name }}">{{ spec|safe }}</script>
{% endfor %}
<script>{{ vega|safe }}</script>
<script>
(function () {
  "use strict";
  document.querySelectorAll("script[data-chart]").forEach(function (node) {
    var name = node.getAttribute("data-chart");
    var box = document.getElementById("chart-" + name);
    if (!box) { return; }
    vegaEmbed(box, JSON.parse(node.textContent), {renderer: "svg", actions: false})
      .then(function () { box.setAttribute("data-rendered", "1"); })
      .catch(function (err) { console.error("chart " + name + ": " + err); });
  });

  var table = document.getElementById("drill");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var search = document.getElementById("drill-search");
  var rule = document.getElementById("drill-rule");
  var severity = document.getElementById("drill-severity");
  var count = document.getElementById("drill-count");
  function apply() {
    var q = search.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (tr) {
      var ok = (!rule.value || tr.getAttribute("data-rule") === rule.value) &&
               (!severity.value || tr.getAttribute("data-severity") === severity.value) &&
               (!q || tr.textContent.toLowerCase().indexOf(q) >= 0);
      tr.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = "显示 " + shown + " / " + rows.length + " 条";
    count.setAttribute("data-shown", String(shown));
  }
  [search, rule, severity].forEach(function (el) { el.addEventListener("input", apply); el.addEventListener("change", apply); });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var numeric = th.getAttribute("data-sort") === "num";
      rows.sort(function (a, b) {
        var x = a.cells[index].textContent, y = b.cells[index].textContent;
        var d = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y, "zh-CN");
        return asc ? d : -d;
      });
      rows.forEach(function (tr) { body.appendChild(tr); });
    });
  });
  apply();
})();
</script>
</body>
</html>
"""
