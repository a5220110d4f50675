"""``etmad duis verify``: exit codes 0, 1 and 2, the text and ``--json`` reports, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.cli.main import main
from adapters.codecs.duis import sign_document
from tests.duis_support import AT, IMMEDIATE, ROOT, TestPki, require_vectors

T = AT.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def vectors() -> Path:
    return require_vectors()


@pytest.fixture(scope="module")
def z1_folder(vectors: Path) -> Path:
    return vectors / "smki" / "z1"


@pytest.fixture(scope="module")
def schema_dir(vectors: Path) -> Path:
    return vectors / "duis" / "schema"


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["duis", "verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def report(out: str) -> Any:
    return json.loads(out)


def test_a_dcc_signed_response_verifies_and_exits_0(capsys, vectors, z1_folder, schema_dir):
    message = str(vectors / "duis" / "signed" / "message.xml")
    code, out, err = verify(
        capsys, message, "--at", T, "--trust", str(z1_folder), "--schema-dir", str(schema_dir)
    )
    assert code == 0, err
    assert err == ""
    assert "signer certificate: 117636141832862931915946451229571981153@CN=Z1,OU=07" in out
    assert "signer role: 04 (ACCESS_CONTROL_BROKER)" in out
    assert "signer entity: 90-B3-D5-1F-30-00-00-02" in out
    assert f"confirm validity at {T}: VALID" in out
    assert out.rstrip().endswith("result: OK")


def test_json_reports_every_check(capsys, vectors, z1_folder, schema_dir):
    message = str(vectors / "duis" / "signed" / "message.xml")
    code, out, _ = verify(
        capsys,
        message,
        "--at",
        T,
        "--trust",
        str(z1_folder),
        "--schema-dir",
        str(schema_dir),
        "--json",
    )
    assert code == 0
    found = report(out)
    assert found["ok"] is True
    assert found["at"] == T
    assert found["error"] is None
    assert found["schema"] == {"valid": True, "errors": []}
    assert found["signature"] == {
        "valid": True,
        "key_info": {"issuer": "CN=Z1,OU=07", "serial": "117636141832862931915946451229571981153"},
    }
    assert found["signer"]["certificate_id"] == {
        "serial": "117636141832862931915946451229571981153",
        "issuer": "CN=Z1,OU=07",
    }
    assert found["signer"]["remote_party_role"] == "04"
    assert found["signer"]["entity_id"] == "90-B3-D5-1F-30-00-00-02"
    assert found["validity"]["code"] == "VALID"
    assert found["request_id"] == "90-B3-D5-1F-30-01-00-00:00-07-81-D7-00-00-36-CE:1655397248260"


def test_a_bad_signature_exits_1_with_the_reason(capsys, vectors, z1_folder, schema_dir):
    bad = str(vectors / "duis" / "signed" / "readfw-response-badsignature.xml")
    code, out, err = verify(
        capsys, bad, "--at", T, "--trust", str(z1_folder), "--schema-dir", str(schema_dir)
    )
    assert code == 1
    assert "[SIGNATURE_INVALID]" in err
    assert "signature: NOT VALID" in out
    code, out, _ = verify(
        capsys, bad, "--at", T, "--trust", str(z1_folder), "--schema-dir", str(schema_dir), "--json"
    )
    assert code == 1
    assert report(out)["error"]["code"] == "SIGNATURE_INVALID"


def test_an_expired_signer_exits_1(capsys, vectors, z1_folder, schema_dir):
    message = str(vectors / "duis" / "signed" / "message.xml")
    code, out, err = verify(
        capsys,
        message,
        "--at",
        "2026-01-01T00:00:00Z",
        "--trust",
        str(z1_folder),
        "--schema-dir",
        str(schema_dir),
        "--json",
    )
    assert code == 1
    found = report(out)
    assert found["signature"]["valid"] is True
    assert found["validity"]["code"] == "EXPIRED"
    assert found["error"]["code"] == "SIGNER_NOT_VALID"
    assert "[SIGNER_NOT_VALID]" in err


def test_without_a_trust_folder_every_signer_is_unknown(capsys, vectors, schema_dir):
    message = str(vectors / "duis" / "signed" / "message.xml")
    code, out, err = verify(capsys, message, "--at", T, "--schema-dir", str(schema_dir), "--json")
    assert code == 1
    assert report(out)["error"]["code"] == "UNKNOWN_SIGNER"
    assert "[UNKNOWN_SIGNER]" in err


def test_a_schema_invalid_document_exits_1(capsys, vectors, z1_folder, schema_dir, tmp_path):
    data = (vectors / "duis" / "signed" / "message.xml").read_bytes()
    broken = tmp_path / "broken.xml"
    broken.write_bytes(data.replace(b"<sr:ResponseCode>I0<", b"<sr:ResponseCode>XYZ<"))
    code, out, _ = verify(
        capsys,
        str(broken),
        "--at",
        T,
        "--trust",
        str(z1_folder),
        "--schema-dir",
        str(schema_dir),
        "--json",
    )
    assert code == 1
    found = report(out)
    assert found["schema"]["valid"] is False
    assert found["error"]["code"] == "SCHEMA_INVALID"
    assert found["signature"]["valid"] is False  # the content changed after signing


def test_a_request_signed_under_a_trusted_pki_exits_0(capsys, vectors, schema_dir, tmp_path):
    pki = TestPki()
    trust = pki.write_trust_folder(tmp_path / "trust")
    signed = tmp_path / "request.xml"
    signed.write_bytes(
        sign_document(
            (vectors / "duis" / "requests" / IMMEDIATE).read_bytes(),
            signer=pki.signer,
            key=pki.xml_sign.key,
            certificate=pki.xml_sign.organisation(),
        )
    )
    code, out, err = verify(
        capsys, str(signed), "--at", T, "--trust", str(trust), "--schema-dir", str(schema_dir)
    )
    assert code == 0, out + err
    assert "signer role: 87 (XML_SIGN)" in out
    assert "signer entity: 90-B3-D5-1F-30-01-00-00" in out


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"<r>", "INVALID_XML"),
        (b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', "HOSTILE_XML"),
        (b"\xff\xfe<\x00r\x00/\x00>\x00", "INVALID_XML"),
    ],
)
def test_unreadable_xml_exits_2(capsys, schema_dir, tmp_path, content, code):
    path = tmp_path / "input.xml"
    path.write_bytes(content)
    exit_code, out, err = verify(capsys, str(path), "--schema-dir", str(schema_dir), "--json")
    assert exit_code == 2
    assert report(out) == {
        "ok": False,
        "error": {"code": code, "message": report(out)["error"]["message"]},
    }
    assert f"[{code}]" in err


def test_an_oversize_file_exits_2_without_reading_it_all(capsys, schema_dir, tmp_path):
    path = tmp_path / "big.xml"
    path.write_bytes(b"<r>" + b"x" * (4 * 1024 * 1024) + b"</r>")
    code, _, err = verify(capsys, str(path), "--schema-dir", str(schema_dir))
    assert code == 2
    assert "[HOSTILE_XML]" in err


def test_a_missing_file_or_folder_exits_2(capsys, schema_dir, tmp_path):
    code, _, err = verify(capsys, str(tmp_path / "absent.xml"), "--schema-dir", str(schema_dir))
    assert (code, "[UNREADABLE]" in err) == (2, True)
    code, _, err = verify(capsys, str(tmp_path / "absent.xml"), "--schema-dir", str(tmp_path))
    assert (code, "[SCHEMA_UNAVAILABLE]" in err) == (2, True)
    code, _, err = verify(
        capsys,
        str(tmp_path / "absent.xml"),
        "--schema-dir",
        str(schema_dir),
        "--trust",
        str(tmp_path / "nowhere"),
    )
    assert (code, "[TRUST_UNAVAILABLE]" in err) == (2, True)


def test_a_time_without_a_zone_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["duis", "verify", "x.xml", "--at", "2023-11-14T22:13:20"])
    assert exited.value.code == 2
    assert "no time zone" in capsys.readouterr().err


@pytest.mark.slow
def test_the_installed_command_prints_no_traceback(vectors, z1_folder, schema_dir, tmp_path):
    hostile = tmp_path / "hostile.xml"
    hostile.write_bytes(b"<!DOCTYPE r [<!ENTITY a 'b'>]><r>&a;</r>")
    cases = [
        (
            [
                str(vectors / "duis" / "signed" / "message.xml"),
                "--at",
                T,
                "--trust",
                str(z1_folder),
            ],
            0,
        ),
        ([str(vectors / "duis" / "signed" / "readfw-response-badsignature.xml")], 1),
        ([str(hostile)], 2),
        ([str(tmp_path)], 2),  # a folder, not a file
    ]
    for args, expected in cases:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "adapters.cli.main",
                "duis",
                "verify",
                *args,
                "--schema-dir",
                str(schema_dir),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=120,
        )
        assert done.returncode == expected, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout
