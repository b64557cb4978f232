#!/usr/bin/env python3
"""A bounded soak of a running doorward (GitHub issue 10): many users' whole lifecycles at once,
with the contract's invariants checked as it goes. Standard library only.

    python3 benches/soak.py --base http://127.0.0.1:PORT --seconds 60 --workers 16 --label sqlite

Each worker keeps one keep-alive connection (a second one for the refresh races) and loops,
until the deadline, over one user's lifecycle:

    register (201) -> GET /api/me with the registration's token -> login (200)
    -> several GET /api/me -> refresh (200, rotating) -> GET /api/me with the new token
    -> logout (204) -> the logged-out tokens are refused -> the registration's session is still
    alive -> logout by its refresh token alone -> that session is refused too.

On a sample of lifecycles it also checks refresh-token reuse (theft revokes the whole family,
the reuse grace mints exactly one sibling, two concurrent reuses of a rotated token cannot both
mint one), a wrong password, and the cookie transport. After the deadline it re-checks, at
random, logged-out access tokens (still refused) and registered users (still able to sign in).

Counted: every request by route and status; every 5xx and every status the contract does not
give for that step (by route and status); every invariant check by kind and each violation.
Prints per-route latencies and one summary line; exits 1 on any violation, 5xx, unexpected
status or transport error.
"""

import argparse
import collections
import http.client
import json
import random
import secrets
import sys
import threading
import time
import urllib.parse

ACCESS_COOKIE = "__Host-access_token"
REFRESH_COOKIE = "__Host-refresh_token"
# Reuse-grace checks need the second presentation well inside REFRESH_REUSE_GRACE (10 s).
GRACE_MARGIN = 8.0
# Keep-alive connections idle longer than this are reopened (DOORWARD_KEEP_ALIVE is 5 s).
IDLE_REOPEN = 3.0
RESERVOIR = 4000


class TransportError(Exception):
    """The connection failed before an answer came back (counted, the lifecycle is abandoned)."""


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "main"
        self.requests = collections.Counter()  # phase -> count
        self.by_route = collections.Counter()  # route -> count (every phase)
        self.by_route_status = collections.Counter()  # "route status" -> count
        self.latencies = collections.defaultdict(list)  # route -> seconds (main phase)
        self.fivexx = collections.Counter()
        self.unexpected = collections.Counter()
        self.transport = collections.Counter()
        self.checks = collections.Counter()
        self.violations = collections.Counter()
        self.violation_samples = []
        self.lifecycles = collections.Counter()
        self.skipped = collections.Counter()
        self.thefts = 0  # refresh-token reuses provoked that the server refused as theft
        self.logged_out = []  # reservoir of (access token, what, when logged out)
        self.logged_out_seen = 0
        self.registered = []  # reservoir of (email, password)
        self.registered_seen = 0

    def record(self, route, status, seconds, expected):
        with self.lock:
            self.requests[self.phase] += 1
            self.by_route[route] += 1
            self.by_route_status[f"{route} {status}"] += 1
            if self.phase == "main":
                self.latencies[route].append(seconds)
            if status >= 500:
                self.fivexx[f"{route} {status}"] += 1
            elif status not in expected:
                self.unexpected[f"{route} {status}"] += 1

    def check(self, kind, violated, detail):
        with self.lock:
            self.checks[kind] += 1
            if violated:
                self.violations[kind] += 1
                if len(self.violation_samples) < 20:
                    self.violation_samples.append(f"{kind}: {detail}")

    def keep(self, reservoir, seen_attr, item):
        with self.lock:
            seen = getattr(self, seen_attr) + 1
            setattr(self, seen_attr, seen)
            if len(reservoir) < RESERVOIR:
                reservoir.append(item)
            else:
                slot = random.randrange(seen)
                if slot < RESERVOIR:
                    reservoir[slot] = item


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    def cookies(self):
        """The Set-Cookie headers as {name: value}; a cleared cookie has the value ''."""
        jar = {}
        for line in self.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in line.lower().replace(" ", ""):
                value = ""
            jar[name.strip()] = value
        return jar

    @property
    def ok(self):
        return 200 <= self.status < 300


class Client:
    """One keep-alive HTTP/1.1 connection, reopened after an error or a close."""

    def __init__(self, host, port, stats, origin):
        self.host, self.port, self.stats, self.origin = host, port, stats, origin
        self.conn = None
        self.last_used = 0.0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, expect, body=None, bearer=None, cookies=None):
        route = f"{method} {path}"
        headers = {}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            if method != "GET":
                headers["Origin"] = self.origin  # what a browser sends; an allowed origin
        now = time.monotonic()
        if self.conn is not None and now - self.last_used > IDLE_REOPEN:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            answer = self.conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            with self.stats.lock:
                self.stats.transport[f"{route} {type(e).__name__}"] += 1
            raise TransportError(f"{route}: {e!r}") from e
        elapsed = time.perf_counter() - started
        self.last_used = time.monotonic()
        if answer.will_close:
            self.close()
        self.stats.record(route, answer.status, elapsed, expect)
        return Response(answer.status, answer.msg, data)


class Worker:
    def __init__(self, index, args, stats, run_id):
        parsed = urllib.parse.urlsplit(args.base)
        self.host, self.port = parsed.hostname, parsed.port or 80
        origin = f"{parsed.scheme}://{parsed.netloc}"
        self.index, self.stats, self.run_id = index, stats, run_id
        self.http = Client(self.host, self.port, stats, origin)
        self.racer = Client(self.host, self.port, stats, origin)
        self.me_calls = args.me_calls
        self.count = 0

    # --- small steps -------------------------------------------------------------------------

    def me(self, token, expect=(200,)):
        return self.http.request("GET", "/api/me", expect, bearer=token)

    def refresh(self, token, expect=(200,), client=None):
        return (client or self.http).request(
            "POST", "/auth/refresh", expect, body={"refresh_token": token}
        )

    def theft(self):
        with self.stats.lock:
            self.stats.thefts += 1

    def must_refuse(self, kind, answer, what):
        """A token that must no longer work: any 2xx is a violation."""
        self.stats.check(kind, answer.ok, f"{what} answered {answer.status}")

    def must_accept(self, kind, answer, what):
        """Something that must work: a 4xx refusal is a violation (5xx are counted apart)."""
        self.stats.check(kind, 400 <= answer.status < 500, f"{what} answered {answer.status}")

    def me_is(self, kind, token, email, what):
        answer = self.me(token)
        self.must_accept(kind, answer, what)
        if answer.ok:
            got = answer.json().get("email")
            self.stats.check("identity", got != email, f"{what}: /api/me said {got!r}, not {email!r}")
        return answer

    # --- the lifecycle -----------------------------------------------------------------------

    def lifecycle(self):
        self.count += 1
        n = self.count
        email = f"soak-{self.run_id}-{self.index}-{n}@example.com"
        password = "Soak-" + secrets.token_hex(8)
        what = f"user {email}"

        reg = self.http.request(
            "POST", "/auth/register", (201,), body={"email": email, "password": password, "name": "Soak"}
        )
        if reg.status != 201:
            return "register_failed"
        reg_pair = reg.json()
        got = reg_pair.get("user", {}).get("email")
        self.stats.check("identity", got != email, f"register answered user {got!r} for {email!r}")
        self.stats.keep(self.stats.registered, "registered_seen", (email, password))
        self.me_is("registration_session", reg_pair["access_token"], email, f"{what}: registration token")

        if n % 10 == 5:
            wrong = self.http.request(
                "POST", "/auth/login", (401,), body={"email": email, "password": password + "x"}
            )
            self.stats.check("wrong_password", wrong.ok, f"{what}: a wrong password answered {wrong.status}")

        login = self.http.request("POST", "/auth/login", (200,), body={"email": email, "password": password})
        self.must_accept("registered_signs_in", login, f"{what}: login right after its 201")
        if login.status != 200:
            return "login_failed"
        first = login.json()
        for _ in range(self.me_calls):
            self.me_is("login_session", first["access_token"], email, f"{what}: login token")

        rotated_at = time.monotonic()
        second = self.refresh(first["refresh_token"])
        if second.status != 200:
            return "refresh_failed"
        second = second.json()
        self.stats.check(
            "rotation",
            second.get("refresh_token") == first["refresh_token"],
            f"{what}: refresh returned the same refresh token",
        )
        self.me_is("rotation", second["access_token"], email, f"{what}: rotated token")

        family_revoked = False
        tokens = [first, second]  # every pair of the login session so far
        if n % 5 == 1:
            family_revoked = self.reuse_after_child_used(what, first, second, tokens)
        elif n % 5 == 3:
            family_revoked = self.reuse_within_grace(what, first, second, tokens, rotated_at)
        elif n % 10 == 7:
            family_revoked = self.concurrent_reuse_of_rotated(what, second, tokens)

        # Logout with the newest access token and its refresh token in the body.
        latest = tokens[-1]
        out = self.http.request(
            "POST", "/auth/logout", (204,), body={"refresh_token": latest["refresh_token"]},
            bearer=latest["access_token"],
        )
        if out.status == 204:
            logged_out_at = time.monotonic()
            for pair in tokens:
                self.must_refuse("logout", self.me(pair["access_token"], (401,)), f"{what}: access token after logout")
            self.must_refuse(
                "logout", self.refresh(latest["refresh_token"], (401,)), f"{what}: refresh token after logout"
            )
            self.stats.keep(
                self.stats.logged_out, "logged_out_seen", (latest["access_token"], what, logged_out_at)
            )
        elif not family_revoked:
            return "logout_failed"

        # Another session of the same user is untouched by that logout...
        self.me_is("other_session_alive", reg_pair["access_token"], email, f"{what}: registration token after the login session's logout")
        # ... until it is signed out by its refresh token alone (no bearer, no cookie).
        out = self.http.request("POST", "/auth/logout", (204,), body={"refresh_token": reg_pair["refresh_token"]})
        if out.status == 204:
            self.must_refuse(
                "logout_by_refresh_token", self.me(reg_pair["access_token"], (401,)),
                f"{what}: registration token after logout by its refresh token",
            )
            self.must_refuse(
                "logout_by_refresh_token", self.refresh(reg_pair["refresh_token"], (401,)),
                f"{what}: registration refresh token after its logout",
            )

        if n % 4 == 2:
            self.cookie_session(email, password, what)
        return "completed"

    def assert_family_revoked(self, kind, what, pairs):
        for pair in pairs:
            self.must_refuse(kind, self.me(pair["access_token"], (401,)), f"{what}: an access token of the revoked family")
            self.must_refuse(kind, self.refresh(pair["refresh_token"], (401,)), f"{what}: a refresh token of the revoked family")

    def reuse_after_child_used(self, what, first, second, tokens):
        """first -> second -> third, then first again: theft; the whole family is revoked."""
        third = self.refresh(second["refresh_token"])
        if third.status != 200:
            return False
        third = third.json()
        tokens.append(third)
        reuse = self.refresh(first["refresh_token"], (401,))
        self.must_refuse("reuse", reuse, f"{what}: a rotated refresh token whose child was used")
        if reuse.status == 401:
            self.theft()
            # tokens[0]'s and tokens[1]'s refresh tokens are rotated already; every access token
            # and the newest refresh token must now be refused.
            for pair in tokens:
                self.must_refuse("reuse_revokes_family", self.me(pair["access_token"], (401,)), f"{what}: access token after theft")
            self.must_refuse(
                "reuse_revokes_family", self.refresh(third["refresh_token"], (401,)),
                f"{what}: newest refresh token after theft",
            )
        return True

    def reuse_within_grace(self, what, first, second, tokens, rotated_at):
        """first presented again within the grace: one sibling; a third time: theft."""
        # A 401 here is judged below (a violation inside the grace), not as an unexpected status.
        sibling = self.refresh(first["refresh_token"], (200, 401))
        if time.monotonic() - rotated_at > GRACE_MARGIN:
            with self.stats.lock:
                self.stats.skipped["grace (too slow to judge)"] += 1
            return False
        self.must_accept("grace_sibling", sibling, f"{what}: a rotated token presented again within the grace")
        if sibling.status != 200:
            return False
        sibling = sibling.json()
        self.stats.check(
            "grace_sibling",
            sibling.get("refresh_token") in (first["refresh_token"], second["refresh_token"]),
            f"{what}: the sibling reused a refresh token",
        )
        tokens.append(sibling)
        third = self.refresh(first["refresh_token"], (401,))
        self.must_refuse("grace_once", third, f"{what}: a third presentation of one refresh token")
        if third.status == 401:
            self.theft()
            self.assert_family_revoked("grace_once_revokes_family", what, [second, sibling])
            self.must_refuse("grace_once_revokes_family", self.me(first["access_token"], (401,)), f"{what}: first access token after theft")
        return True

    def concurrent_reuse_of_rotated(self, what, second, tokens):
        """second -> third; then second twice at the same instant on two connections: the grace
        lets at most one of them mint a sibling, the other is theft and revokes everything."""
        third = self.refresh(second["refresh_token"])
        if third.status != 200:
            return False
        tokens.append(third.json())
        barrier = threading.Barrier(2, timeout=30)
        results = [None, None]

        def present(slot, client):
            try:
                barrier.wait()
                results[slot] = self.refresh(second["refresh_token"], (200, 401), client=client)
            except (TransportError, threading.BrokenBarrierError) as e:
                results[slot] = e

        other = threading.Thread(target=present, args=(1, self.racer))
        other.start()
        present(0, self.http)
        other.join(60)
        answers = [r for r in results if isinstance(r, Response)]
        if len(answers) != 2:
            return False
        statuses = sorted(a.status for a in answers)
        self.stats.check(
            "concurrent_reuse", statuses == [200, 200],
            f"{what}: two concurrent reuses of one rotated token both minted a sibling",
        )
        if statuses == [401, 401]:
            # Safe, but the grace should have let one through (its child was unused).
            with self.stats.lock:
                self.stats.unexpected["concurrent reuse within the grace: both 401"] += 1
        if 401 in statuses:
            self.theft()
            minted = [a.json() for a in answers if a.status == 200]
            self.assert_family_revoked("concurrent_reuse_revokes_family", what, tokens[2:] + minted)
            for pair in tokens[:2]:
                self.must_refuse(
                    "concurrent_reuse_revokes_family", self.me(pair["access_token"], (401,)),
                    f"{what}: an older access token after theft",
                )
        return True

    def cookie_session(self, email, password, what):
        login = self.http.request("POST", "/auth/cookie/login", (200,), body={"email": email, "password": password})
        self.must_accept("registered_signs_in", login, f"{what}: cookie login")
        jar = login.cookies()
        self.stats.check(
            "cookie_body_has_no_token", b"access_token" in login.body or b"refresh_token" in login.body,
            f"{what}: the cookie login's body holds a token",
        )
        if login.status != 200 or not jar.get(ACCESS_COOKIE) or not jar.get(REFRESH_COOKIE):
            return
        me = self.http.request("GET", "/api/me", (200,), cookies={ACCESS_COOKIE: jar[ACCESS_COOKIE]})
        self.must_accept("cookie", me, f"{what}: /api/me with the access cookie")
        old = dict(jar)
        rotated = self.http.request("POST", "/auth/cookie/refresh", (200,), cookies={REFRESH_COOKIE: jar[REFRESH_COOKIE]})
        self.must_accept("cookie", rotated, f"{what}: cookie refresh")
        jar.update(rotated.cookies())
        if rotated.status != 200 or jar[REFRESH_COOKIE] == old[REFRESH_COOKIE]:
            return
        me = self.http.request("GET", "/api/me", (200,), cookies={ACCESS_COOKIE: jar[ACCESS_COOKIE]})
        self.must_accept("cookie", me, f"{what}: /api/me with the rotated access cookie")
        out = self.http.request("POST", "/auth/logout", (204,), cookies=jar)
        if out.status != 204:
            return
        cleared = out.cookies()
        self.stats.check(
            "cookie_logout_clears", cleared.get(ACCESS_COOKIE) != "" or cleared.get(REFRESH_COOKIE) != "",
            f"{what}: logout did not clear both cookies ({sorted(cleared)})",
        )
        for access in (old[ACCESS_COOKIE], jar[ACCESS_COOKIE]):
            me = self.http.request("GET", "/api/me", (401,), cookies={ACCESS_COOKIE: access})
            self.must_refuse("cookie_logout", me, f"{what}: an access cookie after logout")
        again = self.http.request("POST", "/auth/cookie/refresh", (401,), cookies={REFRESH_COOKIE: jar[REFRESH_COOKIE]})
        self.must_refuse("cookie_logout", again, f"{what}: the refresh cookie after logout")

    def run(self, deadline):
        while time.monotonic() < deadline:
            try:
                outcome = self.lifecycle()
            except TransportError:
                outcome = "transport_error"
                time.sleep(0.05)
            with self.stats.lock:
                self.stats.lifecycles[outcome] += 1
        self.http.close()
        self.racer.close()


def final_checks(args, stats, run_id):
    """After the deadline: a random sample of logged-out access tokens (still refused) and of
    registered users (still able to sign in), spread over the workers' connections."""
    # A little later: past DOORWARD_SYNC_INTERVAL (1 s), so the revocation log has been
    # followed and the denylist swept at least once since the last logout.
    time.sleep(args.recheck_after)
    with stats.lock:
        stats.phase = "final"
        tokens = random.sample(stats.logged_out, min(args.recheck, len(stats.logged_out)))
        users = random.sample(stats.registered, min(args.recheck, len(stats.registered)))
    jobs = [("token", t) for t in tokens] + [("user", u) for u in users]
    random.shuffle(jobs)
    ages = []
    lock = threading.Lock()

    def drain(index):
        worker = Worker(index, args, stats, run_id)
        while True:
            with lock:
                if not jobs:
                    break
                kind, item = jobs.pop()
            try:
                if kind == "token":
                    token, what, at = item
                    with lock:
                        ages.append(time.monotonic() - at)
                    worker.must_refuse("logout_later", worker.me(token, (401,)), f"{what}: access token re-checked after the soak")
                else:
                    email, password = item
                    answer = worker.http.request(
                        "POST", "/auth/login", (200,), body={"email": email, "password": password}
                    )
                    worker.must_accept("registered_later", answer, f"user {email}: login after the soak")
            except TransportError:
                pass
        worker.http.close()

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(max(1, args.workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return (min(ages) if ages else 0.0), (max(ages) if ages else 0.0)


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--label", default="doorward", help="the backend's name, for the summary")
    parser.add_argument("--me-calls", type=int, default=4, help="GET /api/me per login")
    parser.add_argument("--recheck", type=int, default=500, help="tokens and users re-checked at the end")
    parser.add_argument("--recheck-after", type=float, default=2.0, help="seconds to wait before the re-checks")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()

    stats = Stats()
    run_id = secrets.token_hex(4)
    started = time.monotonic()
    deadline = started + args.seconds
    workers = [Worker(i, args, stats, run_id) for i in range(args.workers)]
    threads = [threading.Thread(target=w.run, args=(deadline,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        # A lifecycle in flight at the deadline finishes; each request times out after 30 s.
        t.join(max(1.0, deadline - time.monotonic()) + 300)
    stuck = sum(t.is_alive() for t in threads)
    main_elapsed = time.monotonic() - started
    main_requests = stats.requests["main"]
    youngest, oldest = final_checks(args, stats, run_id)

    rate = main_requests / main_elapsed if main_elapsed else 0.0
    lines = [f"soak {args.label}: latency per route (ms, timed phase): count p50 p99 max"]
    for route in sorted(stats.latencies):
        values = stats.latencies[route]
        lines.append(
            f"  {route:<26} {len(values):>7} {percentile(values, 0.5) * 1e3:7.1f} "
            f"{percentile(values, 0.99) * 1e3:7.1f} {max(values) * 1e3:7.1f}"
        )
    if stats.violation_samples:
        lines.append("violations (first 20):")
        lines.extend(f"  {v}" for v in stats.violation_samples)
    for name, counter in (("5xx", stats.fivexx), ("unexpected", stats.unexpected), ("transport errors", stats.transport)):
        if counter:
            lines.append(f"{name}: {dict(counter)}")
    print("\n".join(lines))

    total_checks = sum(stats.checks.values())
    total_violations = sum(stats.violations.values())
    fivexx = sum(stats.fivexx.values())
    unexpected = sum(stats.unexpected.values())
    transport = sum(stats.transport.values())
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(stats.checks.items()))
    by_route = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_route.items()))
    summary = (
        f"soak {args.label}: {args.seconds:g}s {args.workers} workers: {main_requests} requests "
        f"({rate:.0f}/s) + {stats.requests['final']} re-check requests "
        f"(logged-out tokens {youngest:.1f}-{oldest:.1f}s after their logout), "
        f"lifecycles {stats.lifecycles['completed']} completed of {sum(stats.lifecycles.values())}, "
        f"by route {{{by_route}}}, 5xx {fivexx}, unexpected {unexpected}, transport errors {transport}, "
        f"invariant checks {total_checks} ({by_kind}), thefts provoked {stats.thefts}, "
        f"violations {total_violations}"
        + (f" {dict(stats.violations)}" if total_violations else "")
        + (f", stuck workers {stuck}" if stuck else "")
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(
                {
                    "label": args.label, "seconds": args.seconds, "workers": args.workers,
                    "elapsed": main_elapsed, "requests": main_requests, "per_second": rate,
                    "recheck_requests": stats.requests["final"],
                    "recheck_token_age_seconds": [youngest, oldest],
                    "lifecycles": dict(stats.lifecycles), "by_route": dict(stats.by_route),
                    "by_route_status": dict(stats.by_route_status),
                    "latency_ms": {
                        r: {"count": len(v), "p50": percentile(v, 0.5) * 1e3, "p99": percentile(v, 0.99) * 1e3, "max": max(v) * 1e3}
                        for r, v in stats.latencies.items()
                    },
                    "fivexx": dict(stats.fivexx), "unexpected": dict(stats.unexpected),
                    "transport_errors": dict(stats.transport), "checks": dict(stats.checks),
                    "violations": dict(stats.violations), "violation_samples": stats.violation_samples,
                    "skipped": dict(stats.skipped), "stuck_workers": stuck, "thefts": stats.thefts,
                    "summary": summary,
                },
                out, indent=2, sort_keys=True,
            )
    print(summary, flush=True)
    failed = total_violations or fivexx or unexpected or transport or stuck or not main_requests
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
