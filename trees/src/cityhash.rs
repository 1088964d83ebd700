//! CityHash64 for short strings, and CatBoost's category hash built on it.
//!
//! CatBoost hashes a categorical value's text with CityHash64 (the v1.0
//! constants) and keeps the low 32 bits as a signed integer; its one-hot
//! splits store that number. Category codes are at most a few digits, so
//! only the 0–16 byte case of the hash is needed.

const K2: u64 = 0x9ae1_6a3b_2f90_404f;
const K3: u64 = 0xc949_d7c7_509e_6557;
const K_MUL: u64 = 0x9ddf_ea08_eb38_2d69;

/// Longest text [`city_hash64`] accepts.
const MAX_HASHED_LEN: usize = 16;

fn fetch64(s: &[u8]) -> u64 {
    u64::from_le_bytes(s[..8].try_into().expect("8 bytes"))
}

fn fetch32(s: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes(s[..4].try_into().expect("4 bytes")))
}

fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

fn hash_len16(u: u64, v: u64) -> u64 {
    let mut a = (u ^ v).wrapping_mul(K_MUL);
    a ^= a >> 47;
    let mut b = (v ^ a).wrapping_mul(K_MUL);
    b ^= b >> 47;
    b.wrapping_mul(K_MUL)
}

fn rotate_by_at_least_1(v: u64, shift: u32) -> u64 {
    v.rotate_right(shift)
}

/// CityHash64 (v1.0) of a string of at most 16 bytes; `None`
/// for longer ones.
pub fn city_hash64(s: &[u8]) -> Option<u64> {
    let len = s.len();
    let h = if len > MAX_HASHED_LEN {
        return None;
    } else if len > 8 {
        let a = fetch64(s);
        let b = fetch64(&s[len - 8..]);
        hash_len16(
            a,
            rotate_by_at_least_1(b.wrapping_add(len as u64), len as u32),
        ) ^ b
    } else if len >= 4 {
        let a = fetch32(s);
        hash_len16((len as u64).wrapping_add(a << 3), fetch32(&s[len - 4..]))
    } else if len > 0 {
        let a = u32::from(s[0]);
        let b = u32::from(s[len >> 1]);
        let c = u32::from(s[len - 1]);
        let y = a.wrapping_add(b << 8);
        let z = (len as u32).wrapping_add(c << 2);
        shift_mix(u64::from(y).wrapping_mul(K2) ^ u64::from(z).wrapping_mul(K3)).wrapping_mul(K2)
    } else {
        K2
    };
    Some(h)
}

/// The hash CatBoost gives the category whose code is `code`: CityHash64 of
/// the code's decimal text, low 32 bits. Missing codes (NaN) and codes that
/// are not small non-negative integers hash as the missing category.
pub fn catboost_category_hash(code: f32) -> i32 {
    let mut buffer = [0u8; 12];
    let text: &[u8] = if (0.0..16_777_216.0).contains(&code) {
        let mut n = code as u32;
        let mut at = buffer.len();
        loop {
            at -= 1;
            buffer[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        &buffer[at..]
    } else {
        crate::catboost::MISSING_CATEGORY_TEXT.as_bytes()
    };
    let h = city_hash64(text).expect("short text");
    h as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from CatBoost's own CityHash64 (its group-id hash) for the same strings.
    #[test]
    fn matches_catboost_for_every_short_length() {
        let cases: [(&str, u64); 8] = [
            ("x", 5748889492429595544),
            ("v0", 14747533241437457317),
            ("abc", 4220206313085259313),
            ("abcd", 17823623939509273229),
            ("abcdefg", 9365486912795408122),
            ("abcdefgh", 4864636163090995991),
            ("abcdefghijklmno", 16853824127119582073),
            ("abcdefghijklmnop", 13242281798114038465),
        ];
        for (text, want) in cases {
            assert_eq!(city_hash64(text.as_bytes()), Some(want), "{text}");
        }
        assert_eq!(city_hash64(&[b'a'; 17]), None);
    }

    #[test]
    fn category_codes_hash_as_their_decimal_text() {
        let text_hash = |t: &str| city_hash64(t.as_bytes()).unwrap() as u32 as i32;
        assert_eq!(catboost_category_hash(12.0), text_hash("12"));
        assert_eq!(catboost_category_hash(0.0), text_hash("0"));
        assert_eq!(catboost_category_hash(f32::NAN), text_hash("-1"));
        assert_eq!(catboost_category_hash(-3.0), text_hash("-1"));
        // one-hot split values CatBoost wrote for the categories "12" and "7"
        let mut seen = [text_hash("12"), text_hash("7")];
        seen.sort();
        assert_eq!(seen, [-17943309, 1445320840]);
    }
}
