"""The generated reference and JSON Schema: complete, deterministic and committed up to date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from signaling import protocol as p
from signaling.protocol import docs

ROOT = Path(__file__).resolve().parents[2]


def test_committed_files_are_up_to_date() -> None:
    stale = docs.stale_files(ROOT)
    assert not stale, f"run `python -m signaling.protocol.docs`; stale: {stale}"
    assert docs.main(["--check", "--root", str(ROOT)]) == 0


def test_check_flag_from_the_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "signaling.protocol.docs", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_on_stale_or_missing_files_and_write_fixes_them(tmp_path: Path) -> None:
    assert docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert set(docs.write(tmp_path)) == {docs.DOCS_PATH, docs.SCHEMA_PATH}
    assert docs.main(["--check", "--root", str(tmp_path)]) == 0
    assert docs.write(tmp_path) == []

    (tmp_path / docs.DOCS_PATH).write_text("# edited by hand\n", encoding="utf-8")
    assert docs.stale_files(tmp_path) == [docs.DOCS_PATH]
    assert docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert docs.main(["--root", str(tmp_path)]) == 0
    assert docs.stale_files(tmp_path) == []


def test_output_is_deterministic() -> None:
    assert docs.render() == docs.render()


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(docs.render_schema())


def test_schema_covers_both_unions(schema: dict) -> None:
    defs = schema["$defs"]
    for union, types in (
        ("ClientMessage", p.CLIENT_MESSAGE_TYPES),
        ("ServerMessage", p.SERVER_MESSAGE_TYPES),
    ):
        mapping = defs[union]["discriminator"]["mapping"]
        assert mapping == {tag: f"#/$defs/{cls.__name__}" for tag, cls in types.items()}
        for cls in types.values():
            assert defs[cls.__name__]["additionalProperties"] is False
    for cls in p.INFO_TYPES:
        assert cls.__name__ in defs


def test_schema_carries_the_constants(schema: dict) -> None:
    constants = schema["constants"]
    assert constants["PROTOCOL_VERSION"] == p.PROTOCOL_VERSION
    assert constants["MAX_MESSAGE_BYTES"] == p.MAX_MESSAGE_BYTES
    assert constants["MAX_CHAT_CHARS"] == p.MAX_CHAT_CHARS
    assert constants["CHAT_RATE_LIMIT"] == {"per_second": 5, "burst": 10}
    assert constants["ACTION_RATE_LIMIT"] == {"per_second": 20, "burst": 40}
    assert list(constants["ERROR_CODES"]) == list(p.ERROR_CODES)
    assert constants["CLIENT_MESSAGE_TYPES"] == list(p.CLIENT_MESSAGE_TYPES)
    assert constants["SERVER_MESSAGE_TYPES"] == list(p.SERVER_MESSAGE_TYPES)


def test_schema_limits_match_the_codec(schema: dict) -> None:
    chat = schema["$defs"]["Chat"]["properties"]["text"]
    assert (chat["minLength"], chat["maxLength"]) == (1, p.MAX_CHAT_CHARS)
    room_count = schema["$defs"]["OpenRound"]["properties"]["room_count"]["anyOf"][0]
    assert (room_count["minimum"], room_count["maximum"]) == (1, 50)


def test_schema_descriptions_are_reflowed(schema: dict) -> None:
    for name, component in schema["$defs"].items():
        description = component.get("description", "")
        assert "\n    " not in description, name


def test_markdown_documents_every_message() -> None:
    text = docs.build_markdown()
    for tag, cls in p.CLIENT_MESSAGE_TYPES.items():
        assert f"#### {tag} (client)" in text
        assert f"Python class `{cls.__name__}`" in text
    for tag, cls in p.SERVER_MESSAGE_TYPES.items():
        assert f"#### {tag} (server)" in text
        assert f"Python class `{cls.__name__}`" in text
    for cls in p.INFO_TYPES:
        assert f"### {cls.__name__}" in text
    for code in p.ERROR_CODES:
        assert f"| `{code}` |" in text
    for needle in ("1009", "4001", "rate_limited", "5 per second", "20 per second", "welcome"):
        assert needle in text


def test_markdown_examples_are_valid_messages() -> None:
    text = docs.build_markdown()
    blocks = text.split("```json\n")[1:]
    assert len(blocks) == len(p.CLIENT_MESSAGE_TYPES) + len(p.SERVER_MESSAGE_TYPES)
    client = server = 0
    for block in blocks:
        body = block.split("```", 1)[0]
        try:
            p.decode_client(body)
            client += 1
        except p.ProtocolError:
            p.decode_server(body)
            server += 1
    # Tags shared by both sides decode as client messages first; the counts still add up.
    assert client + server == len(blocks)
    assert client >= len(p.CLIENT_MESSAGE_TYPES)


def test_markdown_links_resolve() -> None:
    text = docs.build_markdown()
    anchors = {
        docs._anchor(line.lstrip("#").strip()) for line in text.splitlines() if line.startswith("#")
    }
    import re

    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, target
