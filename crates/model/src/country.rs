use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 3166-1 alpha-2 country code, upper case, stored inline (no heap).
///
/// Registries also use a few codes that are not countries (`EU`, `AP`, and `ZZ` for
/// "unknown or unassigned"); they are accepted, as any two ASCII letters are.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a two-letter country code")]
pub struct InvalidCountryCode(pub String);

impl CountryCode {
    /// The code registries use for "no country" (unassigned, reserved, unknown).
    pub const UNKNOWN: CountryCode = CountryCode(*b"ZZ");

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a country code holds two ASCII letters")
    }

    pub fn is_unknown(&self) -> bool {
        *self == Self::UNKNOWN
    }
}

impl FromStr for CountryCode {
    type Err = InvalidCountryCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.trim().as_bytes();
        match bytes {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(CountryCode([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(InvalidCountryCode(s.to_string())),
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountryCode({})", self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_uppercases() {
        assert_eq!("cn".parse::<CountryCode>().unwrap().as_str(), "CN");
        assert!("CHN".parse::<CountryCode>().is_err());
        assert!("C1".parse::<CountryCode>().is_err());
        assert!("".parse::<CountryCode>().is_err());
    }
}
