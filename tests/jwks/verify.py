"""Verifies a doorward access token offline, from the JWKS alone, with PyJWT's PyJWKClient:
a verifier nobody on the doorward project wrote (tests/api/signing_keys.rs runs it).

    python verify.py JWKS_URL ALG ISSUER AUDIENCE   (the token on stdin, never in argv)

Prints the verified claims as JSON and exits 0, or prints why and exits 1.
"""

import json
import sys

import jwt


def main() -> int:
    jwks_url, alg, issuer, audience = sys.argv[1:5]
    token = sys.stdin.read().strip()
    try:
        key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iat", "nbf", "sub", "jti"]},
        )
    except Exception as error:  # every refusal is an answer, printed for the test's message
        print(f"refused: {type(error).__name__}: {error}")
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
