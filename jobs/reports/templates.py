"""Jinja2 templates of the HTML reports (kept in Python so that they install with the package).

Every page is self-contained: inline CSS, charts as data URIs, no script, no network.
The CSS prints on A4 and reflows to one column on a phone.
"""

from __future__ import annotations

__all__ = ["TEMPLATES"]

BASE = """<!DOCTYPE html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ title }}</title>
<style>
@page { size: A4; margin: 12mm 10mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
       "WenQuanYi Micro Hei", "Noto Sans", Arial, sans-serif; color: #222; margin: 0 auto;
       max-width: 190mm; padding: 8px 10px; font-size: 14px; line-height: 1.45; }
h1 { font-size: 20px; margin: 4px 0; } h2 { font-size: 16px; margin: 14px 0 6px; border-bottom: 1px solid #ccc; }
.meta { color: #555; font-size: 12px; }
.confidential { border: 2px solid #C0392B; color: #922B21; background: #FDEDEC; padding: 6px 8px;
                font-weight: bold; font-size: 12px; margin: 6px 0; }
.tier { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px;
        font-weight: bold; white-space: nowrap; }
.tier-red { background: #C0392B; } .tier-yellow { background: #B7950B; } .tier-blue { background: #2E6DB4; }
.tier-none { background: #7F8C8D; } .tier-selected { background: #5D6D7E; } .tier-case { background: #6C3483; }
.card { border: 1px solid #ccc; border-left: 6px solid #7F8C8D; border-radius: 4px; padding: 6px 10px;
        margin: 6px 0; break-inside: avoid; page-break-inside: avoid; }
.card.red { border-left-color: #C0392B; background: #FEF5F4; }
.card.yellow { border-left-color: #B7950B; background: #FFFBEA; }
.card.blue { border-left-color: #2E6DB4; background: #F3F8FD; }
.card .head { display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; }
.card .name { font-size: 17px; font-weight: bold; }
.card dl { margin: 4px 0 0; display: grid; grid-template-columns: 7.5em 1fr; gap: 2px 8px; }
.card dt { color: #555; } .card dd { margin: 0; }
.up { color: #C0392B; font-weight: bold; } .down { color: #1E8449; font-weight: bold; } .steady { color: #555; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 4px 0; }
th, td { border: 1px solid #bbb; padding: 3px 5px; text-align: left; vertical-align: top; word-break: keep-all; }
th { background: #EEF1F4; }
td.num, th.num { text-align: right; }
tr.zero td { color: #555; background: #F4F6F6; }
tr.total td { font-weight: bold; background: #EEF1F4; }
.scroll { overflow-x: auto; }
table.plan td { word-break: normal; overflow-wrap: anywhere; }  /* the plan is written on: it wraps to the page */
img.chart { max-width: 100%; height: auto; display: block; margin: 4px 0; }
.note { color: #555; font-size: 12px; }
.write { border-bottom: 1px dotted #888; min-height: 1.6em; }
details.watch { border: 1px solid #ccc; border-radius: 4px; padding: 4px 10px; margin: 8px 0; }
details.watch summary { cursor: pointer; }
@media (max-width: 600px) {
  body { font-size: 15px; padding: 6px; }
  .card dl { grid-template-columns: 1fr; } .card dt { font-size: 12px; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 11.5px; }
  .card { margin: 4px 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<div class="meta">{{ subtitle }}</div>
<div class="confidential">{{ confidential }}</div>
</header>
{% block body %}{% endblock %}
<footer class="note"><p>{{ footer }}</p></footer>
</body>
</html>
"""

WEEKLY = """{% extends "base.html" %}
{% block body %}
<p class="counts">{{ t.summary }} {{ rows|length }}:
{% for group, n in counts.items() %}{% if n or group in ("red", "yellow", "blue") %}<span class="tier tier-{{ group }}">{{ group_labels[group] }} {{ n }}</span> {% endif %}{% endfor %}
· {{ t.class_size }} {{ wl.class_size }}{% if wl.watched %} · {{ t.watched }}{% endif %}</p>
<p class="places" id="places"><b>{{ t.places }}</b><span class="note">{{ t.places_note }}</span></p>
<p class="note">{{ t.county_mean }}</p>
<h2>{{ t.list }}</h2>
{% if rows %}
{% for r in rows %}
<div class="card {{ r.group }}">
  <div class="head"><span class="name">{{ r.name }}</span>
  <span class="tier tier-{{ r.group }}">{{ r.group_label }}</span>
  <span class="risk">{{ t.risk }} {{ r.risk_text }}</span>
  <span class="{{ r.arrow_class }}">{{ r.change_arrow }}</span>
  {% if r.new_on_list %}<span class="note">{{ t.new }}</span>{% endif %}</div>
  <dl>
  {% if r.tier_reason %}<dt>{{ t.why_tier }}</dt><dd>{{ r.tier_reason }}</dd>{% endif %}
  {% if r.rules %}<dt>{{ t.rules }}</dt><dd>{{ r.rules }}</dd>{% endif %}
  {% if r.reasons %}<dt>{{ t.reasons }}</dt><dd>{{ r.reasons }}</dd>{% endif %}
  {% if r.protective %}<dt>{{ t.protective }}</dt><dd>{{ r.protective }}</dd>{% endif %}
  {% if r.tags_label %}<dt>{{ t.tags }}</dt><dd>{{ r.tags_label }}</dd>{% endif %}
  <dt>{{ t.case }}</dt><dd>{% if r.case_id %}{{ r.case_type }} · {{ r.case_status }} · {{ t.owner }} {{ r.case_owner or t.no_owner }} · {{ r.case_stage_label }}{% else %}{{ t.no_case }}{% endif %}</dd>
  {% if r.measures %}<dt>{{ t.measures }}</dt><dd>{{ r.measures }}</dd>{% endif %}
  <dt>{{ t.notes }}</dt><dd class="write">&nbsp;</dd>
  </dl>
</div>
{% endfor %}
{% else %}
<p>{{ t.empty }}</p>
{% endif %}
{% if watch %}
<details class="watch" id="watch"><summary><b>{{ t.watch }}</b> · {{ watch|length }}</summary>
<p class="note">{{ t.watch_note }}</p>
<table><tr><th>{{ t.name }}</th><th>{{ t.tags }}</th><th>{{ t.risk }}</th></tr>
{% for r in watch %}<tr><td>{{ r.name }}</td><td>{{ r.tags_label }}</td><td>{{ r.risk_text }}</td></tr>{% endfor %}
</table></details>
{% endif %}
<h2>{{ t.left }}</h2>
{% if left %}
<table><tr><th>{{ t.name }}</th><th>{{ t.last_week }}</th><th>{{ t.now }}</th><th>{{ t.change }}</th></tr>
{% for r in left %}<tr><td>{{ r.name }}</td><td>{{ r.previous_tier_label }}</td><td>{{ r.tier_label }}</td><td>{{ r.change }}</td></tr>{% endfor %}
</table>
{% else %}<p class="note">{{ t.left_none }}</p>{% endif %}
{% if wl.moved_out %}<p class="note">{{ t.moved_out }}</p>{% endif %}
{% endblock %}
"""

SCHOOL = """{% extends "base.html" %}
{% block body %}
<p>{% for k, v in counts %}<b>{{ k }}</b> {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}</p>
<h2>{{ t.by_grade }}</h2>
{% if chart %}<img class="chart" alt="{{ t.by_grade }}" src="{{ chart }}">{% endif %}
<div class="scroll">{{ by_grade }}</div>
<h2>{{ t.by_class }}</h2>
<div class="scroll">{{ by_class }}</div>
<h2>{{ t.by_owner }}</h2>
{% if has_owner %}<div class="scroll">{{ by_owner }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
<h2>{{ t.overdue }}</h2>
{% if has_overdue %}<div class="scroll">{{ overdue }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
<h2>{{ t.returns }}</h2>
{% if has_returns %}<div class="scroll">{{ returns }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
{% endblock %}
"""

MONTHLY = """{% extends "base.html" %}
{% block body %}
<h2>{{ t.townships }}</h2>
<div class="scroll">{{ townships }}</div>
<h2>{{ t.units }}</h2>
<div class="scroll">{{ units }}</div>
<h2>{{ t.form }}</h2>
{% if has_form %}<div class="scroll">{{ form }}</div>{% else %}<p><b>{{ t.zero_all }}</b></p>{% endif %}
<h2>{{ t.still_out }}</h2>
{% if has_still %}<div class="scroll">{{ still }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
<h2>{{ t.reasons }}</h2>
{% if has_reasons %}<div class="scroll">{{ reasons }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
<h2>{{ t.placements }}</h2>
{% if has_placements %}<div class="scroll">{{ placements }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
{% endblock %}
"""

STUDENT = """{% extends "base.html" %}
{% block body %}
<p><span class="tier tier-{{ tier }}">{{ tier_label }}</span> {{ t.risk }} {{ band }}
{% if tier_reason %} · {{ tier_reason }}{% endif %}</p>
<h2>{{ t.profile }}</h2>
<div class="scroll">{{ profile }}</div>
{% if restricted %}<p class="note">{{ t.restricted }}</p>{% endif %}
<h2>{{ t.reasons }}</h2>
<ul>{% for r in reasons %}<li>{{ r }}</li>{% endfor %}{% if not reasons %}<li>{{ t.none }}</li>{% endif %}</ul>
{% if protective %}<p>{{ t.protective }}: {{ protective }}</p>{% endif %}
<h2>{{ t.history }}</h2>
<img class="chart" alt="{{ t.history }}" src="{{ risk_chart }}">
{% if waterfall %}<h2>{{ t.drivers }}</h2><img class="chart" alt="{{ t.drivers }}" src="{{ waterfall }}">
<p class="note">{{ t.drivers_note }}</p>{% endif %}
<h2>{{ t.attendance }}</h2>
<img class="chart" alt="{{ t.attendance }}" src="{{ attendance_chart }}">
<h2>{{ t.exams }}</h2>
{% if exam_chart %}<img class="chart" alt="{{ t.exams }}" src="{{ exam_chart }}">{% endif %}
{% if has_history %}<div class="scroll" id="exam-history">{{ exam_history }}</div>{% endif %}
{% if has_levels %}<p class="note">{{ t.levels }}</p><div class="scroll">{{ exam_levels }}</div>{% endif %}
{% if not exam_chart and not has_levels and not has_history %}<p class="note">{{ t.none }}</p>{% endif %}
<h2>{{ t.cases }}</h2>
{% if has_cases %}<div class="scroll">{{ cases }}</div>{% else %}<p class="note">{{ t.none }}</p>{% endif %}
{% if has_events %}<div class="scroll">{{ events }}</div>{% endif %}
{% if has_interventions %}<h2>{{ t.interventions }}</h2><div class="scroll">{{ interventions }}</div>{% endif %}
<h2>{{ t.plan }}</h2>
<p class="note">{{ t.plan_note }}</p>
<div class="scroll"><table class="plan"><tr><th>{{ t.goal }}</th><th>{{ t.measure }}</th><th>{{ t.owner }}</th><th>{{ t.review }}</th></tr>
{% for p in plan %}<tr><td>{{ p.goal }}</td><td>{{ p.measure }}</td><td>{{ p.owner }}</td><td>{{ p.review_date }}</td></tr>{% endfor %}
<tr><td class="write">&nbsp;</td><td class="write">&nbsp;</td><td class="write">&nbsp;</td><td class="write">&nbsp;</td></tr>
</table></div>
<p>{{ t.signed }}</p>
{% endblock %}
"""

INDEX = """{% extends "base.html" %}
{% block body %}
{% for section, links in sections %}
<h2>{{ section }}</h2>
<ul>{% for text, href in links %}<li><a href="{{ href }}">{{ text }}</a></li>{% endfor %}</ul>
{% endfor %}
{% for s in schools %}
<section class="school" id="school-{{ s.school_id }}">
<h2>{{ s.label }}</h2>
<p>{{ s.summary_label }}: {% for text, href in s.links %}<a href="{{ href }}">{{ text }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</p>
<div class="scroll"><table class="classes"><tr><th>{{ words.klass }}</th><th>{{ words.red }}</th><th>{{ words.yellow }}</th><th>{{ words.blue }}</th><th>{{ words.students }}</th><th>{{ words.files }}</th></tr>
{% for c in s.classes %}<tr data-class="{{ c.class_id }}"><td>{{ c.label }}</td><td>{{ c.red }}</td><td>{{ c.yellow }}</td><td>{{ c.blue }}</td><td>{{ c.n }}</td>
<td>{% for text, href in c.links %}<a href="{{ href }}">{{ text }}</a>{% if not loop.last %} · {% endif %}{% endfor %}</td></tr>{% endfor %}</table></div>
{% if s.students %}<details><summary>{{ words.sheets }} ({{ s.students|length }})</summary>
<ul>{% for text, href in s.students %}<li><a href="{{ href }}">{{ text }}</a></li>{% endfor %}</ul></details>{% endif %}
</section>
{% endfor %}
{% endblock %}
"""

TEMPLATES: dict[str, str] = {
    "base.html": BASE,
    "weekly.html": WEEKLY,
    "school.html": SCHOOL,
    "monthly.html": MONTHLY,
    "student.html": STUDENT,
    "index.html": INDEX,
}
