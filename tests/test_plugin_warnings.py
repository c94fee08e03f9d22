"""A user's suite that uses the `evolink_mock` fixture sees no warning from our imports.

Run in a fresh directory by pytester, in a subprocess: no pyproject of ours, no filters in
config, so only what our import sites do can keep the suite quiet.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_users_suite_using_the_fixture_reports_no_warnings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx

        def test_creates_a_task(evolink_mock):
            answer = httpx.post(evolink_mock.url + "/v1/videos/generations",
                                headers={"Authorization": "Bearer " + evolink_mock.api_key},
                                json={"model": "grok-imagine-text-to-video", "prompt": "x"})
            assert answer.status_code == 200
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "default")
    result.assert_outcomes(passed=1, warnings=0)
    assert "Warning" not in result.stdout.str()
