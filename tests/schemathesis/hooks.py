"""Schemathesis hooks for tests/schemathesis/run (loaded through SCHEMATHESIS_HOOKS).

The run authenticates as the organization's owner key. That key is the fuzzer's identity,
never its target: a by-id write (PATCH, DELETE, rotate) that would hit it is sent to a decoy
`*` key instead, so no generated request can lock the run out (disable, delete, expire or
rotate away the key it authenticates with). Every other key, the decoy and whatever the run
creates, is fair game.

The secret comes from the environment, never from the command line or a file.
"""

import os

import schemathesis

TOKEN = os.environ["KEYCONSOLE_FUZZ_TOKEN"]
OWNER_KEY = os.environ["KEYCONSOLE_FUZZ_OWNER_KEY"]
DECOY_KEY = os.environ["KEYCONSOLE_FUZZ_DECOY_KEY"]


@schemathesis.auth()
class OwnerSecret:
    def get(self, case, context):
        return TOKEN

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, **kwargs):
    params = case.path_parameters or {}
    if params.get("id") == OWNER_KEY and case.method.upper() != "GET":
        params["id"] = DECOY_KEY
