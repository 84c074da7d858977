"""The ID-number cipher and blind index as the rest of the platform relies on them (TESTS K1, K3, K5, K6)."""

from __future__ import annotations

import inspect

import pytest

from signalhub_ingest.personal_data import seal_id_number
from signalhub_platform import crypto
from signalhub_platform.crypto import NONCE_BYTES, InvalidTag, PersonalDataCipher
from signalhub_platform.identifiers.resident_id import validate_id_number

ID_NUMBER = "11010519491231002X"


def test_k1_same_id_twice_gives_different_ciphertexts_that_both_decrypt(cipher: PersonalDataCipher) -> None:
    bidx = cipher.blind_index(ID_NUMBER)
    first, key_1 = cipher.encrypt(ID_NUMBER, bidx)
    second, key_2 = cipher.encrypt(ID_NUMBER, bidx)
    assert first != second
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert cipher.decrypt(first, key_1, bidx) == ID_NUMBER
    assert cipher.decrypt(second, key_2, bidx) == ID_NUMBER
    # Sealing (what the imports store) is randomised too, while the index stays deterministic.
    sealed_1, sealed_2 = seal_id_number(cipher, ID_NUMBER), seal_id_number(cipher, ID_NUMBER)
    assert sealed_1["id_ciphertext"] != sealed_2["id_ciphertext"]
    assert sealed_1["id_blind_index"] == sealed_2["id_blind_index"] == bidx
    assert sealed_1["id_masked"] == "110105********002X"


@pytest.mark.parametrize("bit", [0, 7, 8 * NONCE_BYTES, 8 * NONCE_BYTES + 5, -1])
def test_k3_one_flipped_bit_fails_authentication(cipher: PersonalDataCipher, bit: int) -> None:
    sealed = seal_id_number(cipher, ID_NUMBER)
    blob = bytearray(sealed["id_ciphertext"])
    index = bit % (8 * len(blob))
    blob[index // 8] ^= 1 << (index % 8)
    with pytest.raises(InvalidTag):
        cipher.decrypt(bytes(blob), sealed["id_key_id"], sealed["id_blind_index"])


def test_k3_ciphertext_is_bound_to_its_row_identity(cipher: PersonalDataCipher) -> None:
    sealed = seal_id_number(cipher, ID_NUMBER)
    with pytest.raises(InvalidTag):
        cipher.decrypt(sealed["id_ciphertext"], sealed["id_key_id"], cipher.blind_index("440524188001010014"))


def test_k5_the_wrapper_takes_no_nonce_and_draws_a_fresh_one_per_call(
    cipher: PersonalDataCipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision: no nonce-reuse guard. The wrapper has no nonce parameter and calls os.urandom each time.

    So a nonce can only repeat if the OS random source repeats; the fixed-urandom part below
    documents exactly that dependency (two encryptions become identical), and that nothing
    else (a counter, a cache, a caller's value) feeds the nonce.
    """
    assert list(inspect.signature(PersonalDataCipher.encrypt).parameters) == ["self", "plaintext", "row_identity"]

    calls: list[int] = []

    def fixed_urandom(size: int) -> bytes:
        calls.append(size)
        return b"\x01" * size

    monkeypatch.setattr(crypto.os, "urandom", fixed_urandom)
    bidx = cipher.blind_index(ID_NUMBER)
    first, _ = cipher.encrypt(ID_NUMBER, bidx)
    second, _ = cipher.encrypt(ID_NUMBER, bidx)
    assert calls == [NONCE_BYTES, NONCE_BYTES]
    assert first[:NONCE_BYTES] == b"\x01" * NONCE_BYTES
    assert first == second  # only the OS random source stands between two calls and nonce reuse


def test_k6_blind_index_scopes_differ_and_normalised_inputs_agree(cipher: PersonalDataCipher) -> None:
    agency_a = cipher.blind_index(ID_NUMBER, scope="TAX")
    agency_b = cipher.blind_index(ID_NUMBER, scope="SAMR")
    assert agency_a != agency_b
    assert cipher.blind_index(ID_NUMBER) not in {agency_a, agency_b}

    for spelling in (
        "１１０１０５１９４９１２３１００２Ｘ",
        "11010519491231002x",
        " 11010519491231002X ",
        "110105491231002",
    ):
        normalised = validate_id_number(spelling).value
        assert normalised == ID_NUMBER
        assert cipher.blind_index(normalised, scope="TAX") == agency_a
