"""Bearer tokens with scopes (cjo_stream.auth): the format, the checks, rotation and the bind rule."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from cjo_stream import auth
from cjo_stream.auth import ANY, OPEN, ApiAuth, AuthConfigError, parse_tokens
from cjo_stream.config import Settings

OPS = "ops-secret-0123456789abcdef"
PROM = "prometheus-secret-0123456789"


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_format_names_scopes_and_digests() -> None:
    digest = hashlib.sha256(b"digest-only-secret-value").hexdigest()
    tokens = parse_tokens(f"""
        # operators
        ops:read,erase:{OPS}      prometheus:metrics:{PROM};analyst:*:sha256:{digest}   # trailing comment
    """)
    assert [(t.name, sorted(t.scopes)) for t in tokens] == [
        ("ops", ["erase", "read"]), ("prometheus", ["metrics"]),
        ("analyst", ["analytics", "erase", "metrics", "read"])]
    a = ApiAuth(tokens)
    assert a.identify(bearer(OPS)).name == "ops"  # type: ignore[union-attr]
    assert a.identify(bearer("digest-only-secret-value")).name == "analyst"  # type: ignore[union-attr]
    assert a.identify(f"bearer   {PROM}  ").name == "prometheus"  # type: ignore[union-attr]
    for header in (None, "", OPS, f"Basic {OPS}", "Bearer", bearer(OPS + "x"), bearer(OPS[:-1]), bearer("x" * 10_000)):
        assert a.identify(header) is None, header
    assert "secret" not in repr(tokens)


@pytest.mark.parametrize(("text", "problem"), [
    ("ops:read", "entry 1: expected name:scope"),
    (f"ops::{OPS}", "scopes must be some of"),
    (f"ops:read,admin:{OPS}", "unknown: admin"),
    ("ops:read:short", "the secret must be at least 16"),
    (f"ops:read:{OPS};b@d:read:{PROM}", "entry 2: a name of letters"),
    (f"ops read:{OPS}", "entry 1: expected name:scope"),
    # the secret alone, or without its scope: the error quoted it as the entry's name or an unknown scope
    (OPS, "entry 1: expected name:scope"),
    (f"ops:{OPS}", "entry 1: expected name:scope"),
    (f"ops:read:{OPS} ops:erase:{PROM}", "the name is used twice"),
    (f"ops:read:{OPS} other:erase:{OPS}", "the same secret as another entry"),
])
def test_malformed_configuration_is_refused_without_echoing_secrets(text: str, problem: str) -> None:
    with pytest.raises(AuthConfigError, match=problem) as err:
        parse_tokens(text)
    assert OPS not in str(err.value) and PROM not in str(err.value)


def test_check_answers_401_403_or_the_token() -> None:
    a = ApiAuth(parse_tokens(f"ops:read,erase:{OPS} prometheus:metrics:{PROM}"))
    assert a.check(None, "read") == (401, None)
    assert a.check(bearer("wrong-token-0123456789"), "read") == (401, None)
    status, token = a.check(bearer(PROM), "read")
    assert status == 403 and token is not None and token.name == "prometheus"
    status, token = a.check(bearer(OPS), "erase")
    assert status == 0 and token is not None and token.name == "ops"
    assert a.check(bearer(PROM), ANY)[0] == 0


def test_every_token_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: the time a check takes does not tell which token (or how much of one) matched."""
    a = ApiAuth(parse_tokens(" ".join(f"t{i}:read:secret-number-{i:04d}-abcdef" for i in range(8))))
    calls: list[int] = []
    real = auth.hmac.compare_digest

    def counting(x: bytes, y: bytes) -> bool:
        calls.append(1)
        return real(x, y)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    for presented in ("secret-number-0000-abcdef", "secret-number-0007-abcdef", "no-such-secret-0000000"):
        calls.clear()
        a.identify(bearer(presented))
        assert len(calls) == 8, presented


def test_tokens_file_is_reread_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "RELOAD_INTERVAL", 0.0)
    f = tmp_path / "tokens"
    f.write_text(f"ops:read:{OPS}\n")
    a = ApiAuth.from_settings(Settings(api_tokens_file=str(f)))
    assert a.check(bearer(OPS), "read")[0] == 0
    f.write_text(f"prometheus:metrics:{PROM}\n")  # rotated: the old token stops working
    os.utime(f, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert a.check(bearer(OPS), "read")[0] == 401 and a.check(bearer(PROM), "metrics")[0] == 0
    f.write_text("broken entry\n")  # a broken rotation keeps the tokens that worked
    os.utime(f, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
    assert a.check(bearer(PROM), "metrics")[0] == 0


def test_token_reload_log_lines_keep_the_file_and_the_count_through_redaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The log's redaction masks what follows ``..._TOKENS_FILE:`` or ``=``: an operator read 'tokens reloaded from
    CJO_API_TOKENS_FILE: *** tokens' and 'CJO_API_TOKENS_FILE=*** entry 4' (a walkthrough). No secret is in them."""
    from cjo_stream.logs import redact

    monkeypatch.setattr(auth, "RELOAD_INTERVAL", 0.0)
    f = tmp_path / "tokens"
    f.write_text(f"ops:read:{OPS}\n")
    a = ApiAuth.from_settings(Settings(api_tokens_file=str(f)))
    f.write_text(f"ops:read:{OPS}\nprometheus:metrics:{PROM}\n")
    os.utime(f, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    with caplog.at_level("WARNING", logger="cjo_stream.auth"):
        a.check(bearer(OPS), "read")
        f.write_text(f"ops:read:{OPS}\nbroken entry\n")
        os.utime(f, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
        a.check(bearer(OPS), "read")
    said = [redact(r.getMessage()) for r in caplog.records]
    assert said == [f"API tokens reloaded from {f} (CJO_API_TOKENS_FILE), 2 of them (ops, prometheus)",
                    f"API tokens not reloaded, keeping the previous ones: {f} (CJO_API_TOKENS_FILE): entry 2: "
                    "expected name:scope[,scope]:secret (two ':')"], said
    assert not any(OPS in line or PROM in line for line in said)


def test_configuration_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="not both"):
        ApiAuth.from_settings(Settings(api_tokens=f"ops:read:{OPS}", api_tokens_file=str(tmp_path / "t")))
    with pytest.raises(AuthConfigError, match="CJO_API_TOKENS_FILE=.*No such file"):
        ApiAuth.from_settings(Settings(api_tokens_file=str(tmp_path / "missing")))
    with pytest.raises(AuthConfigError, match="CJO_METRICS_AUTH=1 needs"):
        ApiAuth.from_settings(Settings(metrics_auth=True))


def test_policies() -> None:
    worker = auth.worker_policy(ApiAuth())
    assert worker("GET", "/health") == OPEN and worker("GET", "/metrics") == OPEN
    assert worker("GET", "/customers/u1") == "read" and worker("DELETE", "/customers/u1") == "erase"
    assert worker("POST", "/customers/u1") == ANY and worker("GET", "/journeys") == "read"
    assert worker("GET", "/router/") == ANY and worker("GET", "/") == ANY
    closed = auth.worker_policy(ApiAuth(parse_tokens(f"p:metrics:{PROM}"), metrics_auth=True))
    assert closed("GET", "/metrics") == "metrics"
    adapter = auth.adapter_policy(ApiAuth())
    assert adapter("POST", "/engagement") == OPEN and adapter("GET", "/health") == OPEN
    assert adapter("GET", "/metrics") == OPEN and adapter("GET", "/anything") == ANY


def test_without_tokens_the_api_binds_to_loopback_only() -> None:
    none = ApiAuth()
    host, note = auth.bind_host("0.0.0.0", none)
    assert host == "127.0.0.1" and note is not None and "CJO_WEB_HOST=0.0.0.0" in note
    assert auth.bind_host("127.0.0.1", none) == ("127.0.0.1", None)
    assert auth.bind_host("::1", none) == ("::1", None)
    assert auth.bind_host("localhost", none) == ("localhost", None)
    assert auth.bind_host("10.1.2.3", none)[0] == "127.0.0.1"
    some = ApiAuth(parse_tokens(f"ops:read:{OPS}"))
    assert auth.bind_host("0.0.0.0", some) == ("0.0.0.0", None)


def test_an_emptied_token_file_does_not_open_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "RELOAD_INTERVAL", 0.0)
    f = tmp_path / "tokens"
    f.write_text("# none yet\n")
    with pytest.raises(AuthConfigError, match="holds no tokens"):
        ApiAuth.from_settings(Settings(api_tokens_file=str(f)))
    f.write_text(f"ops:read:{OPS}\n")
    a = ApiAuth.from_settings(Settings(api_tokens_file=str(f)))
    f.write_text("")
    os.utime(f, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert a.enabled and a.check(None, "read")[0] == 401 and a.check(bearer(OPS), "read")[0] == 0


def test_unreadable_secret_files_name_their_variable(tmp_path: Path) -> None:
    """A binary tokens file was a UnicodeDecodeError traceback (exit 70); a binary audit key file said only
    "'utf-8' codec can't decode byte ..."; a tokens-file mistake named the file twice; a missing
    certificate said 'None does not exist', a missing key 'PEM lib'."""
    from cjo_stream.tls import TLSConfigError, server_context

    binary = tmp_path / "bin"
    binary.write_bytes(b"\xb8\xff\x00ops:read")
    with pytest.raises(AuthConfigError, match=r"^CJO_API_TOKENS_FILE='.*bin': not UTF-8 text$"):
        ApiAuth.from_settings(Settings(api_tokens_file=str(binary)))
    short = tmp_path / "short"
    short.write_text("ops:read:abc\n")
    with pytest.raises(AuthConfigError) as e:
        ApiAuth.from_settings(Settings(api_tokens_file=str(short)))
    assert str(e.value).count("CJO_API_TOKENS_FILE") == 1, e.value
    with pytest.raises(TLSConfigError, match=r"^CJO_WEB_TLS_CERT='/nonexistent/c.pem': the file does not exist$"):
        server_context(Settings(web_tls_cert="/nonexistent/c.pem", web_tls_key="/nonexistent/k.pem"))
    with pytest.raises(TLSConfigError, match=r"^CJO_WEB_TLS_KEY='/nonexistent/k.pem': the file does not exist$"):
        server_context(Settings(web_tls_cert=str(short), web_tls_key="/nonexistent/k.pem"))


def test_a_binary_audit_key_file_names_its_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xb8\xff\x00")
    monkeypatch.setenv("CJO_AUDIT_KEY_FILE", str(binary))
    with pytest.raises(ValueError, match=r"^CJO_AUDIT_KEY_FILE='.*bin' is not UTF-8 text$"):
        Settings.from_env()


@pytest.mark.parametrize("verb", [["worker"], ["adapter", "--channel", "console"]])
@pytest.mark.parametrize(("env", "message"), [
    ({"CJO_API_TOKENS": "ops:read:tooshort-secret"}, "the secret must be at least 16"),
    ({"CJO_METRICS_AUTH": "1"}, "CJO_METRICS_AUTH=1 needs"),
    ({"CJO_WEB_TLS_CERT": "/nonexistent/cert.pem", "CJO_WEB_TLS_KEY": "/nonexistent/key.pem"}, "does not exist"),
])
def test_bad_security_settings_stop_the_process_with_one_line(verb: list[str], env: dict[str, str],
                                                              message: str) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", *verb], cwd=root, capture_output=True, text=True,
                       env={**base, "CJO_BROKER": "127.0.0.1:1", **env}, timeout=60)
    assert p.returncode == 2, p.stderr[-2000:]
    assert message in p.stderr and "Traceback" not in p.stderr
    assert "tooshort-secret" not in p.stderr + p.stdout


@pytest.mark.parametrize(("args", "env", "message"), [
    # the CA a worker checks the other workers' HTTPS with: a traceback (exit 70) at start, after the broker wait
    ([], {"CJO_WEB_TLS_CA": "/nonexistent/ca.pem"}, "CJO_WEB_TLS_CA='/nonexistent/ca.pem': the file does not exist"),
    # with --concurrency the supervisor started its processes unchecked: each exited 2, restarted for ever
    (["--concurrency", "2"], {"CJO_API_TOKENS": "ops:read:tooshort-secret"}, "the secret must be at least 16"),
    (["--concurrency", "2"], {"CJO_WEB_TLS_CA": "/nonexistent/ca.pem"}, "the file does not exist"),
])
def test_bad_worker_security_settings_stop_it_with_one_line_before_anything_starts(
        args: list[str], env: dict[str, str], message: str) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("CJO_")}
    p = subprocess.run([sys.executable, "-m", "cjo_stream.cli", "worker", *args], cwd=root, capture_output=True,
                       text=True, env={**base, "CJO_BROKER": "127.0.0.1:1", **env}, timeout=60)
    assert p.returncode == 2, p.stderr[-2000:]
    assert message in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "processes, state API on ports" not in p.stderr  # nothing was started


def test_a_broken_token_file_is_said_once_and_held_in_a_gauge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A rotation that did not take showed nowhere but the log (the old tokens keep working), and there it was an
    error line at every check, each second while requests came: once per broken version now, and a gauge an
    alert reads (CjoApiTokensNotReloaded) until a version loads."""
    from cjo_stream import metrics

    def failed() -> float | None:
        return metrics.REGISTRY.get_sample_value("cjo_api_tokens_reload_failed")

    monkeypatch.setattr(auth, "RELOAD_INTERVAL", 0.0)
    f = tmp_path / "tokens"
    f.write_text(f"ops:read:{OPS}\n")
    a = ApiAuth.from_settings(Settings(api_tokens_file=str(f)))
    assert failed() == 0
    with caplog.at_level("ERROR", logger="cjo_stream.auth"):
        f.write_text(f"ops:read:{OPS}\nbroken entry\n")
        os.utime(f, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        for _ in range(3):
            assert a.check(bearer(OPS), "read")[0] == 0  # the previous tokens stay
        assert failed() == 1
        f.write_text("still broken\n")  # another broken version: said again
        os.utime(f, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
        a.check(bearer(OPS), "read")
        a.check(bearer(OPS), "read")
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and all(line.startswith("API tokens not reloaded") for line in said), said
    assert not any(OPS in line for line in said)
    f.write_text(f"prometheus:metrics:{PROM}\n")
    os.utime(f, ns=(time.time_ns() + 3 * 10**9, time.time_ns() + 3 * 10**9))
    assert a.check(bearer(PROM), "metrics")[0] == 0
    assert failed() == 0
