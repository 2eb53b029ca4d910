#!/usr/bin/env python3
"""A real SMTP client for the end-to-end tests: Python's smtplib.

Connects from --source, does EHLO, optional STARTTLS (with an optional
client certificate), MAIL/RCPT/DATA, and prints one JSON object with what
the server said and the SHA-1 thumbprint of the certificate it presented.
"""
import argparse, hashlib, json, smtplib, ssl, sys

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--source", default="127.0.0.1")
ap.add_argument("--starttls", action="store_true")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--mail-from", default="sender@tenant.example")
ap.add_argument("--rcpt", action="append", default=[])
ap.add_argument("--body", default="Subject: e2e\r\n\r\nhello\r\n")
a = ap.parse_args()

out = {}
s = smtplib.SMTP(a.host, a.port, source_address=(a.source, 0), timeout=20)
code, msg = s.ehlo("e2e.client.test")
out["ehlo"] = [code, msg.decode()]
out["starttls_offered"] = s.has_extn("starttls")
if a.starttls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    code, msg = s.starttls(context=ctx)
    out["starttls"] = [code, msg.decode()]
    der = s.sock.getpeercert(binary_form=True)
    out["thumbprint"] = hashlib.sha1(der).hexdigest().upper()
    out["tls_version"] = s.sock.version()
    code, msg = s.ehlo("e2e.client.test")
    out["ehlo2"] = [code, msg.decode()]
code, msg = s.docmd("MAIL", "FROM:<%s>" % a.mail_from)
out["mail"] = [code, msg.decode()]
out["rcpt"] = []
ok = False
if code == 250:
    for r in a.rcpt:
        code, msg = s.docmd("RCPT", "TO:<%s>" % r)
        out["rcpt"].append([code, msg.decode()])
        ok = ok or code == 250
if ok:
    code, msg = s.data(a.body.encode())
    out["data"] = [code, msg.decode()]
try:
    s.quit()
except Exception:
    pass
print(json.dumps(out))
