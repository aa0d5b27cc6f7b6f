"""GB/T 28181 device IDs: parts, types, and the reasons given for bad ones."""

from __future__ import annotations

import pytest

from bridge.gb28181 import DeviceIdError, parse_device_id


def test_parts_of_a_valid_id() -> None:
    device = parse_device_id(" 41990100011326000001 ")
    assert device.text == "41990100011326000001"
    assert (device.centre, device.industry, device.type_code, device.network, device.serial) == (
        "41990100",
        "01",
        "132",
        "6",
        "000001",
    )
    assert str(device) == device.text


@pytest.mark.parametrize(
    ("text", "is_camera", "type_name"),
    [
        ("41990100001316000072", True, "摄像机"),
        ("41990100011326000001", True, "网络摄像机(IPC)"),
        ("41990100011186900001", False, "NVR"),
        ("41990100011176900001", False, "报警控制器"),
        ("41990100002006000001", False, "中心信令控制服务器"),
        ("41990100002156000001", False, "业务分组"),
        ("41990100009996000001", False, "类型 999"),
    ],
)
def test_type_codes(text: str, is_camera: bool, type_name: str) -> None:
    device = parse_device_id(text)
    assert device.is_camera is is_camera
    assert device.type_name == type_name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("4199010001132600119", "19 digits, expected 20"),
        ("419901000113260001190", "21 digits, expected 20"),
        ("4199010001132600011X", "contains non-digits"),
        ("41990100-01132600011", "contains non-digits"),
        ("４１９９０１０００１１３２６０００００１", "contains non-digits"),  # full-width
        ("4.1990100011326e+19", "looks like Excel turned the ID into a number"),
        ("4.19901E+19", "looks like Excel turned the ID into a number"),
        ("41990100011326000001.0", "looks like Excel turned the ID into a number"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_bad_ids_say_why(text: str, reason: str) -> None:
    with pytest.raises(DeviceIdError, match=reason.replace("(", r"\(")):
        parse_device_id(text)


def test_device_id_error_is_a_value_error() -> None:
    assert issubclass(DeviceIdError, ValueError)
