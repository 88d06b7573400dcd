"""MySQL 8's documented bytes, for the fault proxy (dbconn.faults) to replay to real
drivers in front of the lab's MariaDB, where no MySQL 8 server can run.

- ``MYSQL8_INACTIVITY``: what MySQL 8.0.24+ sends when ``wait_timeout`` expires: an
  ERR packet numbered 0, code 4031 ER_CLIENT_INTERACTION_TIMEOUT, SQLSTATE HY000,
  then it closes the socket. The server resets its packet counter before waiting for
  each command (``do_command()`` calls ``net_new_transaction()``), and
  ``net_read_raw_loop()`` in sql-common/net_serv.cc turns a timeout while
  ``pkt_nr == 0`` into ER_CLIENT_INTERACTION_TIMEOUT. Worklog WL#12999 describes the
  change; MySQL bug #103412 shows the packet numbered 0 in a capture.
- ``caching_sha2_exchange()``: the server's side of ``caching_sha2_password``, MySQL
  8's default authentication, after an account asks for it: the auth switch request,
  fast authentication when the server has the account in its cache, otherwise "full
  authentication", where a client without TLS must ask for the server's RSA public key
  and send its password encrypted with it. As in sql/auth/sha2_password.cc
  (``caching_sha2_password_authenticate()``) and the protocol documentation of
  caching_sha2_password.

Packets: 3-byte little-endian payload length, a sequence number, the payload.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct

INACTIVITY_MESSAGE = ("The client was disconnected by the server because of inactivity. "
                      "See wait_timeout and interactive_timeout for configuring this behavior.")


def packet(payload: bytes, sequence: int) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([sequence % 256]) + payload


def err_packet(code: int, sqlstate: str, message: str, sequence: int = 0) -> bytes:
    """A MySQL ERR packet: 0xFF, the code (2 bytes, little-endian), '#', the
    5-character SQLSTATE, the message."""
    return packet(b"\xff" + struct.pack("<H", code) + b"#" + sqlstate.encode("ascii") + message.encode(), sequence)


MYSQL8_INACTIVITY = err_packet(4031, "HY000", INACTIVITY_MESSAGE, sequence=0)

# caching_sha2_password's one-byte messages (sql/auth/sha2_password.cc).
REQUEST_PUBLIC_KEY = 2
FAST_AUTH_SUCCESS = 3
PERFORM_FULL_AUTHENTICATION = 4
CLIENT_PLUGIN_AUTH = 0x00080000
CLIENT_SSL = 0x00000800


class HandshakeFailed(Exception):
    """The exchange ended without a session: what the replay sent, or what the client did."""


def read_packet(sock: socket.socket) -> tuple[int, bytes]:
    """(sequence number, payload) of one packet, read whole."""
    header = _read_exactly(sock, 4)
    length = struct.unpack("<I", header[:3] + b"\0")[0]
    return header[3], _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise HandshakeFailed("the client closed the connection")
        data += chunk
    return data


def handshake_user(response: bytes) -> tuple[int, str]:
    """(capability flags, user name) from a client's HandshakeResponse41."""
    flags = struct.unpack("<I", response[:4])[0]
    if flags & CLIENT_SSL and len(response) == 32:
        raise HandshakeFailed("the client asked for TLS, which this replay cannot offer")
    user = response[32:response.index(b"\0", 32)].decode()
    return flags, user


def scramble_sha2(password: bytes, nonce: bytes) -> bytes:
    """What a client sends for fast authentication: XOR(SHA256(password),
    SHA256(SHA256(SHA256(password)), nonce))."""
    stage1 = hashlib.sha256(password).digest()
    stage3 = hashlib.sha256(hashlib.sha256(stage1).digest() + nonce).digest()
    return bytes(a ^ b for a, b in zip(stage1, stage3))


class RsaKey:
    """The server's RSA key pair for full authentication without TLS (MySQL generates
    one at start; so does each replay)."""

    def __init__(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self._private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.cipher_length = self._private.key_size // 8

    def decrypt(self, cipher: bytes) -> bytes | None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            return self._private.decrypt(cipher, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()),
                                                              algorithm=hashes.SHA1(), label=None))
        except ValueError:
            return None


def caching_sha2_exchange(client: socket.socket, passwords: dict[str, str], key: RsaKey, *,
                          cached: bool, greeting_sequence: int = 0) -> tuple[bytes, int, list[str]]:
    """Play MySQL 8's side of caching_sha2_password with a client that has just sent
    its HandshakeResponse (after the real server's greeting). Returns (that response,
    the sequence number the server's OK must carry, what happened), or raises
    HandshakeFailed after sending the client MySQL's ERR 1045."""
    said = []
    sequence, response = read_packet(client)
    flags, user = handshake_user(response)
    if not flags & CLIENT_PLUGIN_AUTH:
        raise HandshakeFailed("the client cannot switch authentication plugins")
    nonce = os.urandom(20)
    # AuthSwitchRequest: 0xFE, the plugin's name, its data (a 20-byte nonce and a NUL).
    client.sendall(packet(b"\xfe" + b"caching_sha2_password\0" + nonce + b"\0", sequence + 1))
    said.append("server: switch to caching_sha2_password")
    sequence, scramble = read_packet(client)
    password = passwords.get(user, "").encode()
    if scramble in (b"", b"\0"):
        # No password sent: fine for an account without one, else access denied.
        if not password:
            return response, sequence + 1, said + ["client: no password (the account has none)"]
        client.sendall(err_packet(1045, "28000", f"Access denied for user '{user}'@'127.0.0.1' (using password: NO)",
                                  sequence + 1))
        said += ["client: no password", "server: ERR 1045 Access denied (using password: NO)"]
        raise HandshakeFailed("; ".join(said))
    if cached and scramble == scramble_sha2(password, nonce):
        client.sendall(packet(bytes([1, FAST_AUTH_SUCCESS]), sequence + 1))
        said.append("server: fast_auth_success (the account was in the server's cache)")
        return response, sequence + 2, said
    client.sendall(packet(bytes([1, PERFORM_FULL_AUTHENTICATION]), sequence + 1))
    said.append("server: perform_full_authentication (not in the server's cache)")
    sequence, answer = read_packet(client)
    if answer == bytes([REQUEST_PUBLIC_KEY]):
        said.append("client: request the server's public key")
        client.sendall(packet(b"\x01" + key.public_pem, sequence + 1))
        said.append("server: its RSA public key")
        sequence, answer = read_packet(client)
    # Without TLS the server takes what comes as the password encrypted with its key.
    plain = key.decrypt(answer) if len(answer) == key.cipher_length else None
    if plain is not None:
        plain = bytes(a ^ nonce[i % len(nonce)] for i, a in enumerate(plain))
        said.append("client: its password, encrypted with the server's public key")
    else:
        said.append(f"client: {len(answer)} bytes that are not the password encrypted with the server's key")
    if plain is None or plain.rstrip(b"\0") != password:
        client.sendall(err_packet(1045, "28000", f"Access denied for user '{user}'@'127.0.0.1' (using password: YES)",
                                  sequence + 1))
        said.append("server: ERR 1045 Access denied")
        raise HandshakeFailed("; ".join(said))
    return response, sequence + 1, said
