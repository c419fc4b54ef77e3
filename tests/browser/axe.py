"""Accessibility checks with axe-core (axe-playwright-python) on the page a test is looking at.

Any browser test can call `assert_no_serious_violations(page)` once its page shows what it
should; `serious_violations` gives the findings to collect several pages' before failing.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

# axe-core's impact levels are minor, moderate, serious and critical.
FAILING_IMPACTS = ("serious", "critical")
# WCAG 2.x A and AA (2.0, 2.1, 2.2) and axe's best practices.
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Experimental in axe-core, so off unless asked for: a control whose accessible name differs
# from its visible text cannot be operated by voice ("click <the text you see>").
EXTRA_RULES = {"label-content-name-mismatch": {"enabled": True}}

_axe = Axe()


def serious_violations(page, where: str = "") -> list[str]:
    """The serious and critical violations on the page as it is now, one readable text each."""
    page.wait_for_load_state("load")
    options = {
        "resultTypes": ["violations"],
        "runOnly": {"type": "tag", "values": RULE_TAGS},
        "rules": EXTRA_RULES,
    }
    results = _axe.run(page, options=options)
    label = where or page.url
    return [
        describe(violation, label)
        for violation in results.response["violations"]
        if violation["impact"] in FAILING_IMPACTS
    ]


def describe(violation: dict, where: str) -> str:
    """One violation: rule, impact, what it means, and each element with axe's explanation."""
    lines = [f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}"]
    for node in violation["nodes"][:10]:
        target = " ".join(str(part) for part in node["target"])
        lines.append(f"    {target}")
        lines.append(f"        {node['html'][:200]}")
        summary = node.get("failureSummary", "").replace("\n", " ").strip()
        if summary:
            lines.append(f"        {summary}")
    if len(violation["nodes"]) > 10:
        lines.append(f"    ... and {len(violation['nodes']) - 10} more elements")
    lines.append(f"    {violation['helpUrl']}")
    return "\n".join(lines)


def assert_no_serious_violations(page, where: str = "") -> None:
    """Fail with a readable list when axe finds a serious or critical violation on the page."""
    found = serious_violations(page, where)
    assert not found, "Accessibility violations:\n" + "\n".join(found)
