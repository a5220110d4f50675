"""``etmad sr process`` and ``etmad apply --srv623-config`` on a set-up file (``etmad-srv623/1``)
written for the SRV 6.23 world: the DCC's and the TCoS Party's keys read in place from
``smki/z1``, the CoS Party's generated keys and the certificates re-certified under the test OCA
(decision 36) written to ``tmp_path``; the inventory in a SQLite store the CLI then opens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.bootstrap import build_application
from adapters.cli.main import main
from adapters.srv623_setup import Srv623SetupError, read_srv623_keys
from application.service import close_application
from tests.duis_support import AT, IMMEDIATE, ORIGINATOR, require_vectors
from tests.srv623_support import DCC, TARGET, TCOS, Srv623World

WHEN = "2023-11-14T22:13:20Z"  # AT, as the CLI takes it
REQUEST_ID = f"{ORIGINATOR}:{TARGET}:1006"  # the IMMEDIATE template's Request ID
ARTEFACTS = {
    "countersigned_request": "countersigned_request.xml",
    "cos_authorisation_response": "cos_authorisation_response.xml",
    "signed_pre_command": "signed_pre_command.hex",
}


@pytest.fixture(scope="module")
def world() -> Srv623World:
    return Srv623World(require_vectors())


def write_setup(world: Srv623World, folder: Path) -> Path:
    """The set-up file for ``world`` in ``folder``; paths relative to it, the z1 folder
    named in place."""
    z1 = world.vectors / "smki" / "z1"
    keys = folder / "keys"
    certificates = folder / "certificates"
    keys.mkdir()
    certificates.mkdir()
    oca = world.trust.issuer_of(world.ecos_certificate.certificate)
    assert oca is not None
    assert oca.is_ca
    generated = {
        "test-oca.der": oca.der,
        "ecos.der": world.ecos.der,
        "cos-xml-sign.der": world.cos_xml_sign.der,
        "supplier-xml-sign.der": world.xml_sign.der,
        "dcc.der": world.dcc.der,
    }
    for name, der in generated.items():
        (certificates / name).write_bytes(der)
    for handle in ("ecos", "cos-xml-sign"):
        (keys / f"{handle}.key").write_bytes(world.builder.private_key_der(handle))
    (keys / "ecos.pem").write_bytes(world.ecos.pem)
    (keys / "cos-xml-sign.pem").write_bytes(world.cos_xml_sign.pem)
    (keys / "dcc.pem").write_bytes(world.dcc.pem)
    document = {
        "format": "etmad-srv623/1",
        "duis_schema": str(world.vectors / "duis" / "schema"),
        "trust_store": [str(z1), "certificates"],
        "mpan_check_digit": False,
        "cos_party_role_code": "8A",
        "dcc": {"key": str(z1 / f"{DCC}.key"), "certificate": "keys/dcc.pem"},
        "cos_party": {
            "xml_sign": {"key": "keys/cos-xml-sign.key", "certificate": "keys/cos-xml-sign.pem"},
            "ecos": {"key": "keys/ecos.key", "certificate": "keys/ecos.pem"},
        },
        "tcos_party": {"key": str(z1 / f"{TCOS}.key"), "certificate": str(z1 / f"{TCOS}.pem")},
    }
    path = folder / "srv623.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def store(world: Srv623World, tmp_path: Path) -> str:
    """A SQLite store holding the world's inventory: the target Device migrated to the ECoS
    Party."""
    url = f"sqlite:///{tmp_path / 'etmad.sqlite'}"
    app = build_application(url)
    try:
        world.inventory(app, migrated=True, fleet=None)
    finally:
        close_application(app)
    return url


@pytest.fixture
def setup_file(world: Srv623World, tmp_path: Path) -> Path:
    folder = tmp_path / "setup"
    folder.mkdir()
    return write_setup(world, folder)


@pytest.fixture
def request_file(world: Srv623World, tmp_path: Path) -> Path:
    path = tmp_path / "request.xml"
    path.write_bytes(world.signed(IMMEDIATE))
    return path


def sr_process(request: Path, setup: Path, store: str, out: Path, *extra: str) -> int:
    return main(
        [
            "sr",
            "process",
            str(request),
            "--at",
            WHEN,
            "--out",
            str(out),
            "--config",
            str(setup),
            "--store",
            store,
            "--mpan-check-digit",
            "relaxed",
            *extra,
        ]
    )


# --- etmad sr process ---------------------------------------------------------------------------


def test_the_set_up_files_trust_store_names_the_re_certified_supplier_certificate(
    world, setup_file
):

    keys = read_srv623_keys(setup_file)
    # The z1 folder's own xml-sign certificate (same key, CN=Z1 issuer) and the re-certified one
    # are both held, each under its own Certificate ID; the request's KeyInfo names the latter.
    held = keys.trust.organisation_certificate(world.supplier_certificate.certificate_id)
    assert held is not None
    assert held.certificate.der == world.xml_sign.der
    assert keys.dcc.certificate.certificate_id == world.dcc_certificate.certificate_id
    assert keys.cos_party_role_code == 0x8A
    assert keys.dcc.signer is not keys.tcos.signer


def test_sr_process_json_runs_the_chain_and_writes_the_artefacts(
    store, setup_file, request_file, tmp_path, capsys
):
    out = tmp_path / "out"
    assert sr_process(request_file, setup_file, store, out, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "succeeded", shown["message"]
    assert shown["route"] == "COS_PARTY"
    assert shown["request_id"] == REQUEST_ID
    assert [s["stage"] for s in shown["stages"]] == [
        "dcc_request",
        "cos_party",
        "dcc_cos_authorisation_response",
    ]
    for stage in shown["stages"]:
        assert stage["checks"]
        for check in stage["checks"]:
            assert check["status"] == "passed"
            assert check["clause"]
            assert check["response_code"]
    assert "awaiting the Device's response" in shown["message"]
    assert shown["device_outcome"] is None
    assert sorted(shown["written"]) == sorted(ARTEFACTS)
    for name, file_name in ARTEFACTS.items():
        assert shown["written"][name] == str(out / file_name)
    assert (out / "countersigned_request.xml").read_bytes().startswith(b"<")
    assert (out / "cos_authorisation_response.xml").read_bytes().startswith(b"<?xml")
    pre_command = (out / "signed_pre_command.hex").read_text(encoding="ascii").strip()
    assert pre_command == shown["artefacts"]["signed_pre_command"]["hex"]


def test_sr_process_prints_the_route_the_checks_and_the_artefacts(
    store, setup_file, request_file, tmp_path, capsys
):
    out = tmp_path / "out"
    assert sr_process(request_file, setup_file, store, out) == 0
    text = capsys.readouterr().out
    assert f"SRV 6.23 {REQUEST_ID}: succeeded" in text
    assert "route: COS_PARTY" in text
    assert "  because " in text
    assert "cos_party (" in text
    # every check line: status, check, clause, [response code]
    check_lines = [line for line in text.splitlines() if line.startswith("  passed")]
    assert check_lines
    assert all("SRPD" in line or "DUIS" in line or "GBCS" in line for line in check_lines), text
    assert all(line.rstrip().endswith("]") for line in check_lines)
    assert "artefacts written:" in text
    for name, file_name in ARTEFACTS.items():
        assert f"  {name}: {out / file_name}" in text


def test_a_tampered_request_is_refused_and_nothing_is_written(
    world, store, setup_file, tmp_path, capsys
):
    signed = world.signed(IMMEDIATE)
    tampered = tmp_path / "tampered.xml"
    tampered.write_bytes(signed.replace(b"<sr:CommandVariant>1<", b"<sr:CommandVariant>8<"))
    out = tmp_path / "out"
    assert sr_process(tampered, setup_file, store, out, "--json") == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "refused"
    assert shown["response_code"]
    assert shown["written"] == {}
    assert not out.exists()


def test_a_missing_request_file_exits_2_with_a_message(store, setup_file, tmp_path, capsys):
    missing = tmp_path / "nowhere.xml"
    assert sr_process(missing, setup_file, store, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"cannot read {missing}" in err
    assert "Traceback" not in err


def test_a_missing_set_up_exits_2_with_a_message(
    store, request_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("ETMAD_SRV623_CONFIG", raising=False)
    argv = ["sr", "process", str(request_file), "--store", store, "--at", WHEN]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no SRV 6.23 set-up file" in err
    assert "SRV623_SETUP_INVALID" in err
    missing = tmp_path / "absent.json"
    assert main([*argv, "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"cannot read {missing}" in err
    assert "Traceback" not in err


def test_a_set_up_file_naming_a_missing_key_exits_2(store, setup_file, request_file, capsys):
    document = json.loads(setup_file.read_text(encoding="utf-8"))
    document["cos_party"]["ecos"]["key"] = "keys/absent.key"
    setup_file.write_text(json.dumps(document), encoding="utf-8")
    argv = ["sr", "process", str(request_file), "--store", store, "--config", str(setup_file)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cos_party.ecos" in err
    assert "absent.key" in err


# --- etmad apply --srv623-config ----------------------------------------------------------------


def apply(lines: list[dict[str, str]], tmp_path: Path, store: str, *extra: str) -> int:
    commands = tmp_path / "commands.jsonl"
    commands.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return main(["apply", str(commands), "--store", store, "--mpan-check-digit", "relaxed", *extra])


def test_apply_processes_a_request_and_records_that_no_response_came(
    store, setup_file, request_file, tmp_path, capsys
):
    later = AT.replace(minute=30).isoformat()
    lines = [
        {"command": "ProcessSrv623", "request_xml": str(request_file), "at": WHEN},
        {"command": "RecordSrv623Response", "request_id": REQUEST_ID, "at": later},
    ]
    assert apply(lines, tmp_path, store, "--srv623-config", str(setup_file)) == 0
    processed, recorded = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert processed["ok"], processed
    assert processed["result"]["status"] == "succeeded"
    assert processed["result"]["route"] == "COS_PARTY"
    assert processed["result"]["device_outcome"] is None
    assert processed["events"]
    assert recorded["ok"], recorded
    assert recorded["result"]["succeeded"] is False
    assert "no response" in recorded["result"]["detail"]
    assert any(e["type"].endswith(".DeviceResponded.v1") for e in recorded["events"])


def test_apply_takes_inline_xml(world, store, setup_file, tmp_path, capsys):
    inline = world.signed(IMMEDIATE).decode("utf-8")
    lines = [{"command": "ProcessSrv623", "request_xml": inline, "at": WHEN}]
    assert apply(lines, tmp_path, store, "--srv623-config", str(setup_file)) == 0
    (processed,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert processed["result"]["request_id"] == REQUEST_ID


def test_apply_refuses_a_response_for_an_unknown_request(store, setup_file, tmp_path, capsys):
    lines = [
        {"command": "RecordSrv623Response", "request_id": REQUEST_ID, "at": WHEN},
        {"command": "RecordSrv623Response", "request_id": "not-an-id", "at": WHEN},
    ]
    assert apply(lines, tmp_path, store, "--srv623-config", str(setup_file)) == 1
    unknown, invalid = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert unknown["error"]["code"] == "UNKNOWN_SERVICE_REQUEST"
    assert invalid["error"]["code"] == "INVALID_REQUEST_ID"


def test_apply_without_a_set_up_refuses_process_srv623(
    store, request_file, tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("ETMAD_SRV623_CONFIG", raising=False)
    lines = [{"command": "ProcessSrv623", "request_xml": str(request_file), "at": WHEN}]
    assert apply(lines, tmp_path, store) == 1
    (refused,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert not refused["ok"]
    assert refused["error"]["code"] == "NO_SRV623_SETUP"


def test_apply_with_a_missing_set_up_file_exits_2(store, request_file, tmp_path, capsys):
    lines = [{"command": "ProcessSrv623", "request_xml": str(request_file), "at": WHEN}]
    missing = tmp_path / "absent.json"
    assert apply(lines, tmp_path, store, "--srv623-config", str(missing)) == 2
    err = capsys.readouterr().err
    assert f"cannot read {missing}" in err
    assert "SRV623_SETUP_INVALID" in err
    assert "Traceback" not in err


def test_the_same_request_again_is_refused_as_already_received(
    store, setup_file, request_file, tmp_path, capsys
):
    assert sr_process(request_file, setup_file, store, tmp_path / "first", "--json") == 0
    capsys.readouterr()
    assert sr_process(request_file, setup_file, store, tmp_path / "again", "--json") == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "refused"
    assert "REQUEST_ID_ALREADY_RECEIVED" in shown["message"]
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize("role", ["8", "0x8A", "8AB", " 8A", "GG"])
def test_the_role_code_must_be_two_hex_digits(setup_file, role):

    document = json.loads(setup_file.read_text(encoding="utf-8"))
    document["cos_party_role_code"] = role
    setup_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(Srv623SetupError, match="two hex digits"):
        read_srv623_keys(setup_file)


def test_a_key_that_its_certificate_does_not_certify_is_refused(setup_file):

    document = json.loads(setup_file.read_text(encoding="utf-8"))
    document["cos_party"]["ecos"]["key"] = "keys/cos-xml-sign.key"
    setup_file.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(Srv623SetupError, match=r"cos_party\.ecos: the key .* is not the key"):
        read_srv623_keys(setup_file)


def test_apply_refuses_a_missing_request_file_on_its_line_and_goes_on(
    store, setup_file, request_file, tmp_path, capsys
):
    missing = tmp_path / "nowhere.xml"
    lines = [
        {"command": "ProcessSrv623", "request_xml": str(missing), "at": WHEN},
        {"command": "ProcessSrv623", "request_xml": str(request_file), "at": WHEN},
    ]
    assert apply(lines, tmp_path, store, "--srv623-config", str(setup_file)) == 1
    refused, processed = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert refused["error"]["code"] == "SRV623_REQUEST_UNREADABLE"
    assert str(missing) in refused["error"]["message"]
    assert processed["result"]["status"] == "succeeded"
