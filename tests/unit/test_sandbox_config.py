import itertools
from pathlib import Path

import pytest

from devtools.sandbox import (
    RTP_PORT_RANGE,
    SIPP_PORT_RANGE,
    TEMPLATE_DIR,
    SandboxError,
    debian_mirror,
    port_slice,
    render_template,
)


def test_placeholders_are_filled_and_asterisk_variables_untouched() -> None:
    text = "bindport = {{http_port}}\nexten => s,1,NoOp(${EXTEN})"
    assert render_template(text, {"http_port": "8088"}) == "bindport = 8088\nexten => s,1,NoOp(${EXTEN})"


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(SandboxError, match="sip_port"):
        render_template("bind = {{sip_port}}", {})


def test_shipped_templates_have_no_unfilled_placeholders() -> None:
    values = {k: "1" for k in ("instance", "name", "http_port", "sip_port", "rtp_start", "rtp_end",
                               "ari_user", "ari_password", "ari_app", "ari_allowed_origins")}
    for template in TEMPLATE_DIR.glob("*.conf"):
        assert "{{" not in render_template(template.read_text(), values), template.name


def test_mirror_comes_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: x\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: y\n")
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_comes_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://m.example/debian bookworm main\n")
    assert debian_mirror(tmp_path) == "http://m.example/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(SandboxError, match="apt sources"):
        debian_mirror(tmp_path)


def test_port_slices_of_parallel_workers_are_disjoint_and_inside_the_range() -> None:
    slices = [port_slice(*SIPP_PORT_RANGE, spec=f"{k}/6") for k in range(6)]
    for (low, high), (next_low, _) in itertools.pairwise(slices):
        assert low < high <= next_low
    assert slices[0][0] == SIPP_PORT_RANGE[0] and slices[-1][1] <= SIPP_PORT_RANGE[1]
    assert port_slice(*SIPP_PORT_RANGE, spec="") == SIPP_PORT_RANGE
    assert port_slice(*RTP_PORT_RANGE, spec="5/6")[1] <= RTP_PORT_RANGE[1]


def test_a_malformed_port_slice_is_refused_with_its_value() -> None:
    for spec in ("3", "a/b", "4/4", "-1/2"):
        with pytest.raises(SandboxError, match="HOTLINE_PORT_SLICE"):
            port_slice(10000, 20000, spec=spec)
