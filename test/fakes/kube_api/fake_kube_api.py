#!/usr/bin/python3
# The fake Kubernetes API server used by cnimux tests: serves real-shaped Pods and NADs over
# TLS, checks the bearer token, logs every request, and injects 404/500/slowness/silence.
"""Fake Kubernetes API server (Python 3 standard library only).

Usage:
  fake_kube_api.py --port-file F --log-file L [--cert C --key K] [--token T]...
                   [--fixtures PATH]... [--mode normal|404|500|slow|hang|deep] [--delay-ms N]

Kubernetes paths (bearer token required):
  GET   /api/v1/namespaces/{ns}/pods[/{name}[/status]]
  GET   /api/v1/pods[?limit=N&continue=T&fieldSelector=spec.nodeName=NODE]   every namespace,
        paged as the real server pages (metadata.continue on every page but the last)
  PATCH /api/v1/namespaces/{ns}/pods/{name}[/status]   merge, strategic-merge or json-patch
  PUT   /api/v1/namespaces/{ns}/pods/{name}[/status]   409 on a stale resourceVersion
  GET   /apis/k8s.cni.cncf.io/v1/namespaces/{ns}/network-attachment-definitions[/{name}]

Control (no auth, never logged, never affected by modes):
  GET  /_control  -> the current switches
  POST /_control  with a JSON object holding any of:
       mode ("normal", "404", "500", "slow", "hang", or "deep": every Kubernetes request is
       answered 200 with an object holding arrays nested 100,000 deep), delay_ms, fail_next (answer the next N
       Kubernetes requests with fail_status, default 500), fail_status, fail_methods (answer
       every request whose method is listed, e.g. ["PATCH"], with fail_status), tokens (the
       accepted bearer tokens), add_pods, add_nads (lists of objects), clear_log (bool).

Every Kubernetes request is appended to the log file as one JSON line:
  {"seq", "conn", "method", "path", "query", "body", "auth", "content_type"}
where "auth" tells whether an Authorization header was present (the token is never logged)
and "conn" numbers the TCP connection, so tests can see keep-alive reuse.
"""

import argparse
import copy
import http.server
import itertools
import json
import os
import re
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

ALL_PODS_PATH = "/api/v1/pods"
POD_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+)(/status)?)?$")
NAD_PATH = re.compile(
    r"^/apis/k8s\.cni\.cncf\.io/v1/namespaces/([^/]+)/network-attachment-definitions(?:/([^/]+))?$")
MODES = ("normal", "404", "500", "slow", "hang", "deep")
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 409: "Conflict", 415: "UnsupportedMediaType",
           500: "InternalError", 503: "ServiceUnavailable"}


def status_object(code, message, name=None, kind=None):
    """A Kubernetes metav1.Status, as the real API server sends it with every error."""
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": REASONS.get(code, "Unknown"), "code": code}
    if name is not None:
        obj["details"] = {"name": name, "kind": kind}
    return obj


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (also what a strategic merge does to plain maps)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_pointer_parent(doc, pointer):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if not parts:
        raise ValueError("empty JSON pointer")
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, parts[-1]


def json_patch(doc, ops):
    """RFC 6902 JSON patch: add, replace, remove and test on objects (enough for pods)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parent, key = json_pointer_parent(doc, op["path"])
        kind = op["op"]
        if kind in ("add", "replace"):
            if kind == "replace" and key not in parent:
                raise ValueError("replace of missing path " + op["path"])
            parent[key] = op["value"]
        elif kind == "remove":
            del parent[key]
        elif kind == "test":
            if parent.get(key) != op["value"]:
                raise ValueError("test failed at " + op["path"])
        else:
            raise ValueError("unsupported op " + kind)
    return doc


class Store:
    """Pods and NADs keyed by (namespace, name), plus the switches; one lock guards all."""

    def __init__(self, tokens, mode, delay_ms):
        self.lock = threading.Lock()
        self.pods = {}
        self.nads = {}
        self.tokens = list(tokens)
        self.mode = mode
        self.delay_ms = delay_ms
        self.fail_next = 0
        self.fail_status = 500
        self.fail_methods = []
        self.version = itertools.count(1000)

    def add(self, obj):
        kind = obj.get("kind")
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.setdefault("resourceVersion", str(next(self.version)))
        key = (meta["namespace"], meta["name"])
        if kind == "Pod":
            meta.setdefault("uid", "uid-%s-%s" % key)
            self.pods[key] = obj
        elif kind == "NetworkAttachmentDefinition":
            self.nads[key] = obj
        else:
            raise ValueError("fixture of unknown kind %r" % kind)

    def load_fixtures(self, path):
        if os.path.isdir(path):
            for name in sorted(os.listdir(path)):
                if name.endswith(".json"):
                    self.load_fixtures(os.path.join(path, name))
            return
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and ("pods" in data or "nads" in data):
            objects = data.get("pods", []) + data.get("nads", [])
        elif isinstance(data, dict) and data.get("kind", "").endswith("List"):
            objects = data.get("items", [])
        elif isinstance(data, list):
            objects = data
        else:
            objects = [data]
        for obj in objects:
            self.add(obj)

    def control(self, cmd):
        if "mode" in cmd:
            if cmd["mode"] not in MODES:
                raise ValueError("unknown mode %r" % cmd["mode"])
            self.mode = cmd["mode"]
        self.delay_ms = int(cmd.get("delay_ms", self.delay_ms))
        self.fail_next = int(cmd.get("fail_next", self.fail_next))
        self.fail_status = int(cmd.get("fail_status", self.fail_status))
        if "fail_methods" in cmd:
            self.fail_methods = [str(m).upper() for m in cmd["fail_methods"]]
        if "tokens" in cmd:
            self.tokens = list(cmd["tokens"])
        for obj in cmd.get("add_pods", []):
            self.add(dict(obj, kind="Pod", apiVersion="v1"))
        for obj in cmd.get("add_nads", []):
            self.add(dict(obj, kind="NetworkAttachmentDefinition",
                          apiVersion="k8s.cni.cncf.io/v1"))

    def switches(self):
        return {"mode": self.mode, "delay_ms": self.delay_ms, "fail_next": self.fail_next,
                "fail_status": self.fail_status, "fail_methods": self.fail_methods,
                "pods": len(self.pods), "nads": len(self.nads)}


class RequestLog:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        open(path, "w").close()

    def write(self, entry):
        with self.lock:
            entry["seq"] = next(self.seq)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")

    def clear(self):
        with self.lock:
            open(self.path, "w").close()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries a Content-Length

    def setup(self):
        super().setup()
        self.conn_id = next(self.server.conn_ids)
        self.handshaken = False

    def handle_one_request(self):
        # The TLS handshake happens here, in the connection's own thread, so a client that
        # never finishes it cannot block the accept loop.
        if not self.handshaken and isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                return
            self.handshaken = True
        super().handle_one_request()

    def log_message(self, fmt, *args):  # keep stderr quiet; the JSON log is the record
        pass

    def send_json(self, code, obj):
        self.send_text(code, json.dumps(obj))

    def send_text(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", "replace") if length else ""

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        body = self.read_body()
        if url.path == "/_control":
            return self.serve_control(method, body)
        auth = self.headers.get("Authorization")
        self.server.log.write({"conn": self.conn_id, "method": method, "path": url.path,
                               "query": url.query, "body": body, "auth": auth is not None,
                               "content_type": self.headers.get("Content-Type", "")})
        injected = self.injected_status(method)
        if injected == "deep":
            return self.send_text(200, '{"kind": "Pod", "x": %s%s}' % ("[" * 100000, "]" * 100000))
        if injected is not None:
            return self.send_json(injected, status_object(injected, "injected failure"))
        if not self.authorized(auth):
            return self.send_json(401, status_object(401, "Unauthorized"))
        try:
            self.serve_kube(method, url.path, body, url.query)
        except (ValueError, KeyError, IndexError, TypeError) as e:
            self.send_json(400, status_object(400, "bad request: %s" % e))

    def injected_status(self, method):
        """Applies the switches: None to answer normally, else the status to answer with."""
        store = self.server.store
        with store.lock:
            mode, delay_ms = store.mode, store.delay_ms
            if method in store.fail_methods:
                return store.fail_status
            if store.fail_next > 0:
                store.fail_next -= 1
                return store.fail_status
        if mode == "hang":
            self.server.stopping.wait()  # never answer; released only when the server stops
            self.close_connection = True
            raise ConnectionAbortedError("server stopping")
        if mode == "slow" or delay_ms > 0:
            time.sleep(delay_ms / 1000.0)
        return {"404": 404, "500": 500, "deep": "deep"}.get(mode)

    def authorized(self, auth):
        tokens = self.server.store.tokens
        if not tokens:
            return True
        return auth is not None and auth.startswith("Bearer ") and auth[7:] in tokens

    def serve_control(self, method, body):
        store = self.server.store
        try:
            if method == "POST":
                cmd = json.loads(body or "{}")
                with store.lock:
                    store.control(cmd)
                if cmd.get("clear_log"):
                    self.server.log.clear()
            with store.lock:
                self.send_json(200, store.switches())
        except (ValueError, KeyError, TypeError) as e:
            self.send_json(400, status_object(400, "bad control request: %s" % e))

    def serve_kube(self, method, path, body, query=""):
        if path == ALL_PODS_PATH and method == "GET":
            return self.serve_pod_list(urllib.parse.parse_qs(query))
        match = POD_PATH.match(path)
        if match:
            return self.serve_pod(method, match.group(1), match.group(2), body)
        match = NAD_PATH.match(path)
        if match and method == "GET":
            return self.serve_get(self.server.store.nads, match.group(1), match.group(2),
                                  "network-attachment-definitions", "k8s.cni.cncf.io/v1",
                                  "NetworkAttachmentDefinitionList")
        self.send_json(404, status_object(404, "the server could not find the requested resource"))

    def serve_get(self, table, ns, name, kind, api_version, list_kind):
        with self.server.store.lock:
            if name is None:
                items = [copy.deepcopy(o) for (n, _), o in sorted(table.items()) if n == ns]
                return self.send_json(200, {"kind": list_kind, "apiVersion": api_version,
                                            "metadata": {}, "items": items})
            obj = copy.deepcopy(table.get((ns, name)))
        if obj is None:
            return self.send_json(404, status_object(
                404, '%s "%s" not found' % (kind, name), name, kind))
        self.send_json(200, obj)

    def serve_pod_list(self, params):
        """Every namespace's pods, sorted, filtered by spec.nodeName and paged by limit."""
        selector = params.get("fieldSelector", [""])[0]
        node = None
        if selector:
            key, sep, value = selector.partition("=")
            if key != "spec.nodeName" or not sep:
                return self.send_json(400, status_object(
                    400, "field label not supported: %s" % selector))
            node = value
        with self.server.store.lock:
            items = [copy.deepcopy(o) for _, o in sorted(self.server.store.pods.items())
                     if node is None or o.get("spec", {}).get("nodeName") == node]
        start = int(params.get("continue", ["0"])[0] or 0)
        limit = int(params.get("limit", ["0"])[0] or 0)
        end = start + limit if limit > 0 else len(items)
        meta = {"resourceVersion": "1"}
        if end < len(items):
            meta["continue"] = str(end)
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                             "items": items[start:end]})

    def serve_pod(self, method, ns, name, body):
        store = self.server.store
        if method == "GET":
            return self.serve_get(store.pods, ns, name, "pods", "v1", "PodList")
        if name is None or method not in ("PATCH", "PUT"):
            return self.send_json(405, status_object(405, "method %s not allowed" % method))
        with store.lock:
            pod = store.pods.get((ns, name))
            if pod is None:
                return self.send_json(404, status_object(
                    404, 'pods "%s" not found' % name, name, "pods"))
            code, obj = self.update_pod(pod, method, json.loads(body))
            if code == 200:
                obj["metadata"]["resourceVersion"] = str(next(store.version))
                store.pods[(ns, name)] = obj
            obj = copy.deepcopy(obj)
        self.send_json(code, obj)

    def update_pod(self, pod, method, doc):
        """Returns (status, object) for a PATCH or PUT of a stored pod; the lock is held."""
        if method == "PUT":
            sent = doc.get("metadata", {}).get("resourceVersion")
            if sent and sent != pod["metadata"]["resourceVersion"]:
                return 409, status_object(409, "the object has been modified", 
                                          pod["metadata"]["name"], "pods")
            return 200, doc
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return 200, merge_patch(pod, doc)
        if ctype == "application/json-patch+json":
            return 200, json_patch(pod, doc)
        return 415, status_object(415, "unsupported patch content type %r" % ctype)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # dropped connections are normal in failure-injection tests


def parse_args(argv):
    p = argparse.ArgumentParser(description="fake Kubernetes API server for cnimux tests")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log-file", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--token", action="append", default=[])
    p.add_argument("--fixtures", action="append", default=[])
    p.add_argument("--mode", choices=MODES, default="normal")
    p.add_argument("--delay-ms", type=int, default=0)
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    server = Server(("127.0.0.1", 0), Handler)
    server.store = Store(args.token, args.mode, args.delay_ms)
    for path in args.fixtures:
        server.store.load_fixtures(path)
    server.log = RequestLog(args.log_file)
    server.conn_ids = itertools.count(1)
    server.stopping = threading.Event()
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    # Written last and renamed into place: a reader of the port file finds a listening server.
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        server.serve_forever()
    finally:
        server.stopping.set()


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        pass
