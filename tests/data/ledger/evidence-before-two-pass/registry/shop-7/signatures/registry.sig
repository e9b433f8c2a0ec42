{"key_id":"ed25519:fixture","signature":"not checked by export"}
