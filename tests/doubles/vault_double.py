#!/usr/bin/python3
"""vault_double: a TEST DOUBLE of the HashiCorp Vault HTTP API, for vigie's tests only.

HashiCorp Vault cannot be installed on the build machines (not in Debian, no Go proxy), so the
tests of src/vault talk to this server instead. It reproduces the documented behaviour of every
endpoint vigie calls, errors included, and nothing more:

  GET  /v1/sys/seal-status            type, initialized, sealed, t, n, recovery_seal
  GET  /v1/sys/health                 200 active, 429 standby, 501 not initialised, 503 sealed
  PUT  /v1/sys/init                   auto-unseal (awskms): recovery_shares/recovery_threshold
                                      only; secret_shares -> 400; second init -> 400
                                      "Vault is already initialized"; 1 < t <= n <= 255
  GET  /v1/sys/policies/acl?list=true {"data":{"keys":[...]}}
  GET|PUT|DELETE /v1/sys/policies/acl/<name>   {"data":{"name","policy"}}; root/default guarded
  GET  /v1/sys/auth, POST /v1/sys/auth/approle
  POST /v1/auth/approle/role/<role>, GET .../role-id, POST .../secret-id, POST /v1/auth/approle/login
  GET  /v1/auth/token/lookup-self, POST /v1/auth/token/revoke-self   (403 "permission denied")

Recovery keys are real: the double keeps a random 32-byte recovery key split with Shamir over
GF(2^8) with the AES polynomial (0x11B), 33-byte shares (y bytes then x), as Vault does.

Control (no authentication; a double only): command-line flags and
  POST /_double/config   {"seal_type","kms_reachable","lose_init_response","standby"}
  GET  /_double/state    initialized, sealed, root_token, recovery_key_sha256, policies, ...
  GET  /_double/calls    every /v1 request: method, path, token kind (none|root|approle|invalid),
                         status
  PUT|DELETE /_double/policy/<name>  change a policy behind vigie's back (drift tests)

Flags: --port-file F (bind 127.0.0.1:0 and write the port to F), --seal-type awskms|shamir|...,
--kms-unreachable, --lose-init-response 500|drop, --standby.
Run with /usr/bin/python3 (standard library only).
"""

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

# --- Shamir over GF(2^8), AES polynomial, Vault's share layout -----------------------------------


def gf_mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return r


def shamir_split(secret, n, t):
    xs = []
    while len(xs) < n:
        x = secrets.randbelow(255) + 1
        if x not in xs:
            xs.append(x)
    shares = [bytearray() for _ in range(n)]
    for byte in secret:
        coeffs = [byte] + [secrets.randbelow(256) for _ in range(t - 1)]
        for i, x in enumerate(xs):
            y = 0
            for c in reversed(coeffs):  # Horner
                y = gf_mul(y, x) ^ c
            shares[i].append(y)
    for i, x in enumerate(xs):
        shares[i].append(x)
    return [bytes(s) for s in shares]


# --- State ---------------------------------------------------------------------------------------

BUILTIN_DEFAULT = 'path "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n'


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.seal_type = args.seal_type
        self.kms_reachable = not args.kms_unreachable
        self.lose_init_response = args.lose_init_response  # "", "500" or "drop"
        self.standby = args.standby
        self.initialized = False
        self.sealed = True
        self.root_token = None
        self.recovery_key = None
        self.recovery_shares = 0
        self.recovery_threshold = 0
        self.policies = {"default": BUILTIN_DEFAULT, "root": ""}
        self.auth_mounts = {"token/": {"type": "token"}}
        self.roles = {}  # name -> {"policies": [...], "role_id": str, "secret_ids": set()}
        self.tokens = {}  # token -> {"kind": "root"|"approle", "policies": [...]}
        self.calls = []


STATE = None


def vault_token():
    return "hvs." + secrets.token_urlsafe(24)


# --- Handler -------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server_version = "vault-double/1"

    def log_message(self, fmt, *args):  # quiet: the tests scan outputs for secrets
        pass

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._status = status

    def errors(self, status, *messages):
        self.reply(status, {"errors": list(messages)})

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_LIST(self):
        self.dispatch("LIST")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        self._status = 0
        with STATE.lock:
            if path.startswith("/_double/"):
                self.control(method, path[len("/_double/"):])
                return
            token = self.headers.get("X-Vault-Token")
            info = STATE.tokens.get(token) if token else None
            kind = "none" if not token else (info["kind"] if info else "invalid")
            drop = False
            try:
                drop = self.api(method, path, query, info)
            finally:
                STATE.calls.append({"method": method, "path": path, "token": kind,
                                    "status": 0 if drop else self._status})

    # -- control --
    def control(self, method, what):
        if what == "config" and method in ("POST", "PUT"):
            body = self.body_json() or {}
            for key in ("seal_type", "kms_reachable", "lose_init_response", "standby"):
                if key in body:
                    setattr(STATE, key, body[key])
            return self.reply(204)
        if what == "state" and method == "GET":
            return self.reply(200, {
                "initialized": STATE.initialized, "sealed": STATE.sealed,
                "seal_type": STATE.seal_type, "root_token": STATE.root_token,
                "recovery_shares": STATE.recovery_shares,
                "recovery_threshold": STATE.recovery_threshold,
                "recovery_key_sha256": hashlib.sha256(STATE.recovery_key).hexdigest()
                if STATE.recovery_key else "",
                "policies": STATE.policies, "auth_mounts": sorted(STATE.auth_mounts),
                "live_tokens": {k: v["kind"] for k, v in STATE.tokens.items()},
            })
        if what == "calls" and method == "GET":
            return self.reply(200, {"calls": STATE.calls})
        if what.startswith("policy/"):
            name = what[len("policy/"):]
            if method == "PUT":
                STATE.policies[name] = (self.body_json() or {}).get("policy", "")
                return self.reply(204)
            if method == "DELETE":
                STATE.policies.pop(name, None)
                return self.reply(204)
        return self.errors(404, "unknown control endpoint")

    # -- API --
    def require(self, info, allowed_policies=()):
        """403 unless the token is live and (root, or holds one of allowed_policies)."""
        if info is None:
            self.errors(403, "permission denied")
            return False
        if info["kind"] == "root":
            return True
        if any(p in info["policies"] for p in allowed_policies):
            return True
        self.errors(403, "1 error occurred:\n\t* permission denied\n\n")
        return False

    def api(self, method, path, query, info):
        """Returns True when the connection was dropped on purpose (no response)."""
        if path == "/v1/sys/seal-status" and method == "GET":
            return self.reply(200, self.seal_status())
        if path == "/v1/sys/health" and method in ("GET", "HEAD"):
            if not STATE.initialized:
                code = 501
            elif STATE.sealed:
                code = 503
            elif STATE.standby:
                code = 429
            else:
                code = 200
            body = {"initialized": STATE.initialized, "sealed": STATE.sealed,
                    "standby": bool(STATE.standby), "version": "1.15.6-double"}
            return self.reply(code, body)
        if path == "/v1/sys/init":
            if method == "GET":
                return self.reply(200, {"initialized": STATE.initialized})
            if method in ("PUT", "POST"):
                return self.init()
        if STATE.sealed and path.startswith("/v1/"):
            return self.errors(503, "Vault is sealed")
        if path == "/v1/sys/policies/acl" or (path == "/v1/sys/policy" and method == "GET"):
            if method == "LIST" or (method == "GET" and query.get("list") == ["true"]):
                if not self.require(info, ("vigie-admin",)):
                    return
                return self.reply(200, {"data": {"keys": sorted(STATE.policies)}})
            return self.errors(405, "unsupported operation")
        if path.startswith("/v1/sys/policies/acl/"):
            return self.policy(method, path[len("/v1/sys/policies/acl/"):], info)
        if path == "/v1/sys/auth" and method == "GET":
            if not self.require(info):
                return
            data = {k: {"type": v["type"]} for k, v in STATE.auth_mounts.items()}
            return self.reply(200, dict(data, data=data))
        if path.startswith("/v1/sys/auth/") and method in ("POST", "PUT"):
            if not self.require(info):
                return
            mount = path[len("/v1/sys/auth/"):].strip("/") + "/"
            body = self.body_json() or {}
            if mount in STATE.auth_mounts:
                return self.errors(400, "path is already in use at " + mount)
            if body.get("type") != "approle":
                return self.errors(400, "double: only approle can be enabled")
            STATE.auth_mounts[mount] = {"type": "approle"}
            return self.reply(204)
        if path.startswith("/v1/auth/approle/"):
            return self.approle(method, path[len("/v1/auth/approle/"):], info)
        if path == "/v1/auth/token/lookup-self" and method == "GET":
            if info is None:
                return self.errors(403, "permission denied")
            return self.reply(200, {"data": {
                "display_name": "root" if info["kind"] == "root" else "approle",
                "policies": info["policies"], "ttl": 0 if info["kind"] == "root" else 900}})
        if path == "/v1/auth/token/revoke-self" and method in ("POST", "PUT"):
            if info is None:
                return self.errors(403, "permission denied")
            token = self.headers.get("X-Vault-Token")
            STATE.tokens.pop(token, None)
            return self.reply(204)
        return self.errors(404, "no handler for route \"%s\"" % path)

    def seal_status(self):
        recovery = STATE.seal_type != "shamir"
        return {
            "type": STATE.seal_type, "initialized": STATE.initialized, "sealed": STATE.sealed,
            "t": STATE.recovery_threshold, "n": STATE.recovery_shares, "progress": 0,
            "nonce": "", "version": "1.15.6-double", "build_date": "2024-02-28T17:07:34Z",
            "migration": False, "recovery_seal": recovery, "storage_type": "raft",
        }

    def init(self):
        body = self.body_json()
        if body is None:
            return self.errors(400, "failed to parse JSON input")
        if STATE.initialized:
            return self.errors(400, "Vault is already initialized")
        auto = STATE.seal_type != "shamir"
        if auto:
            if body.get("secret_shares") or body.get("secret_threshold"):
                return self.errors(
                    400, "parameters secret_shares,secret_threshold not applicable to seal type "
                    + STATE.seal_type)
            n = body.get("recovery_shares", 0)
            t = body.get("recovery_threshold", 0)
        else:
            n = body.get("secret_shares", 0)
            t = body.get("secret_threshold", 0)
        if not isinstance(n, int) or not isinstance(t, int) or n < 1 or n > 255:
            return self.errors(400, "invalid recovery configuration: shares must be 1..255")
        if t > n:
            return self.errors(400, "invalid recovery configuration: threshold cannot be larger "
                               "than shares")
        if n > 1 and t < 2:
            return self.errors(400, "invalid recovery configuration: threshold must be greater "
                               "than one for multiple shares")
        # Vault writes the barrier and the recovery config, then unseals through KMS.
        STATE.initialized = True
        STATE.recovery_shares, STATE.recovery_threshold = n, t
        STATE.recovery_key = secrets.token_bytes(32)
        shares = shamir_split(STATE.recovery_key, n, t) if n > 1 else [STATE.recovery_key]
        STATE.root_token = vault_token()
        STATE.tokens[STATE.root_token] = {"kind": "root", "policies": ["root"]}
        if not STATE.kms_reachable:
            # vault #6121: initialised, the unseal through KMS fails, 500, keys never sent.
            return self.errors(500, "failed to unseal barrier: error decrypting seal wrapped "
                               "value: AccessDeniedException: kms unreachable")
        STATE.sealed = False
        if STATE.lose_init_response == "drop":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return True
        if STATE.lose_init_response == "500":
            return self.errors(500, "context deadline exceeded")
        return self.reply(200, {
            "keys": [], "keys_base64": [],
            "recovery_keys": [s.hex() for s in shares],
            "recovery_keys_base64": [base64.b64encode(s).decode() for s in shares],
            "root_token": STATE.root_token,
        })

    def policy(self, method, name, info):
        name = urllib.parse.unquote(name).lower()
        if method == "GET":
            if not self.require(info, ("vigie-admin",)):
                return
            if name not in STATE.policies:
                return self.errors(404)
            text = STATE.policies[name]
            return self.reply(200, dict({"name": name, "policy": text},
                                        data={"name": name, "policy": text}))
        if method in ("PUT", "POST"):
            if not self.require(info, ("vigie-admin",)):
                return
            body = self.body_json() or {}
            text = body.get("policy", "")
            if name == "root":
                return self.errors(400, "cannot update \"root\" policy")
            if not text:
                return self.errors(400, "'policy' parameter not supplied or empty")
            STATE.policies[name] = text
            return self.reply(204)
        if method == "DELETE":
            if not self.require(info, ("vigie-admin",)):
                return
            if name in ("root", "default"):
                return self.errors(400, "cannot delete \"%s\" policy" % name)
            STATE.policies.pop(name, None)
            return self.reply(204)
        return self.errors(405, "unsupported operation")

    def approle(self, method, rest, info):
        if "approle/" not in STATE.auth_mounts:
            return self.errors(404, "no handler for route \"auth/approle/%s\"" % rest)
        if rest == "login" and method in ("POST", "PUT"):
            body = self.body_json() or {}
            for role in STATE.roles.values():
                if role["role_id"] == body.get("role_id"):
                    if body.get("secret_id") not in role["secret_ids"]:
                        return self.errors(400, "invalid role or secret ID")
                    token = vault_token()
                    policies = ["default"] + role["policies"]
                    STATE.tokens[token] = {"kind": "approle", "policies": policies}
                    return self.reply(200, {"auth": {"client_token": token, "policies": policies,
                                                     "lease_duration": 900, "renewable": True}})
            return self.errors(400, "invalid role or secret ID")
        parts = rest.split("/")
        if len(parts) < 2 or parts[0] != "role":
            return self.errors(404, "no handler for route")
        if not self.require(info):
            return
        name = parts[1]
        if len(parts) == 2 and method in ("POST", "PUT"):
            body = self.body_json() or {}
            role = STATE.roles.setdefault(name, {"role_id": str(uuid.uuid4()),
                                                 "secret_ids": set()})
            policies = body.get("token_policies") or body.get("policies") or []
            if isinstance(policies, str):
                policies = [p for p in policies.split(",") if p]
            role["policies"] = policies
            return self.reply(204)
        role = STATE.roles.get(name)
        if role is None:
            return self.errors(404, "role \"%s\" does not exist" % name)
        if parts[2:] == ["role-id"] and method == "GET":
            return self.reply(200, {"data": {"role_id": role["role_id"]}})
        if parts[2:] == ["secret-id"] and method in ("POST", "PUT"):
            sid = str(uuid.uuid4())
            role["secret_ids"].add(sid)
            return self.reply(200, {"data": {"secret_id": sid,
                                             "secret_id_accessor": str(uuid.uuid4()),
                                             "secret_id_ttl": 0, "secret_id_num_uses": 0}})
        return self.errors(405, "unsupported operation")


def main():
    global STATE
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seal-type", default="awskms")
    p.add_argument("--kms-unreachable", action="store_true")
    p.add_argument("--lose-init-response", default="", choices=["", "500", "drop"])
    p.add_argument("--standby", action="store_true")
    args = p.parse_args()
    STATE = State(args)
    server = HTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
