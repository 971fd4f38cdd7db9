"""The dashboard needs nothing from the internet: plotly.js is the ops service's own file."""

import re

import httpx

from tests.e2e.platform import ROOT


def test_the_dashboard_loads_plotly_from_the_ops_service_itself(platform):
    page = httpx.get(f"{platform.ops_url}/ops", timeout=10).text
    assert not re.search(r"""src=["']?(https?:)?//""", page), "no script from another host"
    script = httpx.get(f"{platform.ops_url}/ops/plotly.min.js", timeout=30)
    assert script.status_code == 200 and script.headers["content-type"].startswith("application/javascript")
    assert script.content == (ROOT / "services/ops/static/plotly-basic.min.js").read_bytes()
    assert "max-age=" in script.headers["cache-control"] and script.headers["etag"]
