"""好差评 configuration: departments with checked credit codes, reason tags, deadlines,
reporting; each mistake reported with its key path."""

from __future__ import annotations

from datetime import date

import pytest

from controller.config.errors import ConfigError
from controller.config.loader import parse_config, uscc_check_character
from controller.config.model import DEFAULT_REASON_TAGS, HallConfig

BASE = """
[hall]
id = "h"
name = "大厅"

[[services]]
id = "A"
name = "社保"
prefix = "A"
{service_extra}

[[windows]]
number = 1
services = ["A"]
department = "ybj"

{extra}
"""
DEPT = """
[[departments]]
id = "ybj"
name = "县医疗保障局"
code = "113309990026000004"
"""


def load(extra: str = DEPT, service_extra: str = "") -> object:
    return parse_config(BASE.format(extra=extra, service_extra=service_extra))


def problems(extra: str, service_extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(extra, service_extra)
    return [f"{p.key}: {p.message}" for p in info.value.problems]


def test_defaults() -> None:
    config = parse_config(BASE.format(extra="", service_extra="").replace('department = "ybj"', ""))
    evaluation = config.evaluation
    assert evaluation.contact_working_days == 1 and evaluation.rectify_working_days == 15
    assert evaluation.reasons == DEFAULT_REASON_TAGS and evaluation.follow_up_days == 7
    assert config.reporting == () and config.departments == ()


def test_full_settings() -> None:
    config = parse_config(
        BASE.format(
            service_extra='item_code = "330999001000"',
            extra=DEPT
            + """
[evaluation]
contact_working_days = 2
rectify_working_days = 5
follow_up_url = "https://hall.example.gov.cn/hcp"
escalation_webhook = "http://127.0.0.1:9000/overdue"
holidays = [2027-01-01, "2027-02-08"]
adjusted_workdays = [2027-02-20]

[[evaluation.reasons]]
id = "slow"
text = "太慢"
code = "11"

[reporting]
adapter = "json_v1"
url = "https://hcp.example.gov.cn/api/ratings"
""",
        )
    )
    assert config.services[0].item_code == "330999001000"
    dept = config.department_of(1)
    assert dept is not None and dept.code == "113309990026000004"
    assert config.evaluation.rectify_working_days == 5
    assert config.evaluation.holidays == (date(2027, 1, 1), date(2027, 2, 8))
    assert [r.id for r in config.evaluation.reasons] == ["slow"]
    assert [r.adapter for r in config.reporting] == ["json_v1"]


def test_several_destinations_each_with_its_own_cursor_name() -> None:
    config = load(
        DEPT
        + """
[[reporting]]
adapter = "zwfw_batch"
url = "https://hcp.example.gov.cn/api/batch"
credentials = "province"
batch_size = 500

[[reporting]]
adapter = "json_v1"
id = "city"
url = "https://city.example.gov.cn/api"

[[reporting]]
adapter = "hotline_12345"
url = "https://12345.example.gov.cn/hook"
credentials = "hotline"

[evaluation]
disclose_staff = true
"""
    )
    assert isinstance(config, HallConfig)
    assert [(r.name, r.adapter, r.credentials, r.batch_size) for r in config.reporting] == [
        ("zwfw_batch", "zwfw_batch", "province", 500),
        ("city", "json_v1", "", 200),
        ("hotline_12345", "hotline_12345", "hotline", 200),
    ]
    assert isinstance(config, HallConfig) and config.evaluation.disclose_staff is True
    default = load()
    assert isinstance(default, HallConfig) and not default.evaluation.disclose_staff


def test_check_character_of_a_credit_code() -> None:
    assert uscc_check_character("11330999002600000") == "4"
    bad = DEPT.replace("113309990026000004", "113309990026000005")
    assert problems(bad) == [
        "departments[0].code: \"113309990026000005\" fails its check character (expected '4' last)"
    ]
    short = DEPT.replace("113309990026000004", "1133099900")
    assert problems(short)[0].startswith("departments[0].code: a unified social credit code is 18")


def test_a_window_naming_an_unknown_department() -> None:
    other = DEPT.replace('id = "ybj"', 'id = "rsj"').replace("县医疗保障局", "县人社局")
    assert problems(other)[0].startswith('windows[0].department: unknown department "ybj"')


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "[evaluation]\nrectify_working_days = 0",
            "evaluation.rectify_working_days: must be between 1 and 120, got 0",
        ),
        ('[evaluation]\nholidays = ["soon"]', "evaluation.holidays[0]: expected a date such as"),
        ('[evaluation]\nfollow_up_url = "hall.gov.cn"', "evaluation.follow_up_url: expected an"),
        (
            '[[evaluation.reasons]]\nid = "a"\ntext = "x"\n[[evaluation.reasons]]\nid = "a"\n'
            'text = "y"',
            'evaluation.reasons[1].id: reason id "a" is already used by',
        ),
        ('[reporting]\nadapter = "json_v1"', "reporting.url: a reporting adapter needs"),
        (
            '[[reporting]]\nadapter = "json_v1"\nurl = "https://a.gov.cn/x"\n'
            '[[reporting]]\nadapter = "json_v1"\nurl = "https://b.gov.cn/x"',
            'reporting[1].id: reporting destination "json_v1" is already used by reporting[0]',
        ),
        (
            '[[reporting]]\nadapter = "zwfw_batch"\nurl = "https://a.gov.cn/x"\nbatch_size = 0',
            "reporting[0].batch_size: must be between 1 and 5000, got 0",
        ),
        (
            '[[reporting]]\nadapter = "zwfw_batch"\nurl = "https://a.gov.cn/x"\n'
            'credentials = "app key"',
            "reporting[0].credentials:",
        ),
    ],
)
def test_mistakes_are_reported(extra: str, expected: str) -> None:
    found = problems(DEPT + extra)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_malformed_item_code() -> None:
    found = problems(DEPT, service_extra='item_code = "33 09"')
    assert found == ['services[0].item_code: 事项编码 is 1 to 64 letters or digits, got "33 09"']
