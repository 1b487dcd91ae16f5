//! IntelMQ's classification: 11 taxonomies and the 44 types that belong to them
//! (IntelMQ 3.5 `lib/harmonization.py` and the taxonomy expert's mapping).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown classification {0:?}")]
pub struct UnknownClassification(pub String);

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_enum!(
    /// `classification.taxonomy`.
    Taxonomy {
        AbusiveContent = "abusive-content",
        Availability = "availability",
        Fraud = "fraud",
        InformationContentSecurity = "information-content-security",
        InformationGathering = "information-gathering",
        IntrusionAttempts = "intrusion-attempts",
        Intrusions = "intrusions",
        MaliciousCode = "malicious-code",
        Other = "other",
        Test = "test",
        Vulnerable = "vulnerable",
    }
);

impl FromStr for Taxonomy {
    type Err = UnknownClassification;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Taxonomy::ALL.iter().copied().find(|t| t.as_str() == wanted).ok_or_else(|| UnknownClassification(s.to_string()))
    }
}

string_enum!(
    /// `classification.type`; each type belongs to exactly one [`Taxonomy`].
    ClassificationType {
        C2Server = "c2-server",
        InfectedSystem = "infected-system",
        MalwareConfiguration = "malware-configuration",
        MalwareDistribution = "malware-distribution",
        SystemCompromise = "system-compromise",
        ApplicationCompromise = "application-compromise",
        Burglary = "burglary",
        PrivilegedAccountCompromise = "privileged-account-compromise",
        UnprivilegedAccountCompromise = "unprivileged-account-compromise",
        BruteForce = "brute-force",
        Exploit = "exploit",
        IdsAlert = "ids-alert",
        Scanner = "scanner",
        Sniffing = "sniffing",
        SocialEngineering = "social-engineering",
        VulnerableSystem = "vulnerable-system",
        DdosAmplifier = "ddos-amplifier",
        InformationDisclosure = "information-disclosure",
        PotentiallyUnwantedAccessible = "potentially-unwanted-accessible",
        WeakCrypto = "weak-crypto",
        Ddos = "ddos",
        Dos = "dos",
        Outage = "outage",
        Sabotage = "sabotage",
        Misconfiguration = "misconfiguration",
        Phishing = "phishing",
        Masquerade = "masquerade",
        Copyright = "copyright",
        UnauthorizedUseOfResources = "unauthorized-use-of-resources",
        Spam = "spam",
        HarmfulSpeech = "harmful-speech",
        Violence = "violence",
        DataLeak = "data-leak",
        DataLoss = "data-loss",
        UnauthorisedInformationAccess = "unauthorised-information-access",
        UnauthorisedInformationModification = "unauthorised-information-modification",
        Blacklist = "blacklist",
        DgaDomain = "dga-domain",
        Malware = "malware",
        Proxy = "proxy",
        Tor = "tor",
        Undetermined = "undetermined",
        Other = "other",
        Test = "test",
    }
);

impl ClassificationType {
    /// The taxonomy IntelMQ's taxonomy expert assigns to this type.
    pub fn taxonomy(self) -> Taxonomy {
        use ClassificationType::*;
        match self {
            C2Server | InfectedSystem | MalwareConfiguration | MalwareDistribution => Taxonomy::MaliciousCode,
            SystemCompromise
            | ApplicationCompromise
            | Burglary
            | PrivilegedAccountCompromise
            | UnprivilegedAccountCompromise => Taxonomy::Intrusions,
            BruteForce | Exploit | IdsAlert => Taxonomy::IntrusionAttempts,
            Scanner | Sniffing | SocialEngineering => Taxonomy::InformationGathering,
            VulnerableSystem | DdosAmplifier | InformationDisclosure | PotentiallyUnwantedAccessible | WeakCrypto => {
                Taxonomy::Vulnerable
            }
            Ddos | Dos | Outage | Sabotage | Misconfiguration => Taxonomy::Availability,
            Phishing | Masquerade | Copyright | UnauthorizedUseOfResources => Taxonomy::Fraud,
            Spam | HarmfulSpeech | Violence => Taxonomy::AbusiveContent,
            DataLeak | DataLoss | UnauthorisedInformationAccess | UnauthorisedInformationModification => {
                Taxonomy::InformationContentSecurity
            }
            Blacklist | DgaDomain | Malware | Proxy | Tor | Undetermined | Other => Taxonomy::Other,
            Test => Taxonomy::Test,
        }
    }
}

/// Accepts the current names and the legacy names IntelMQ still rewrites
/// ("botnet drone" and "ransomware" become infected-system, "c&c" becomes c2-server),
/// case-insensitively, with spaces or underscores for hyphens.
impl FromStr for ClassificationType {
    type Err = UnknownClassification;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use ClassificationType::*;
        let wanted = s.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        let legacy = match wanted.as_str() {
            "botnet-drone" | "ransomware" | "infected" | "bot" => Some(InfectedSystem),
            "c&c" | "c2server" | "cc" | "c2" => Some(C2Server),
            "defacement" => Some(UnauthorisedInformationModification),
            "backdoor" | "compromised" => Some(SystemCompromise),
            "leak" => Some(DataLeak),
            "vulnerable-service" | "vulnerable-client" => Some(VulnerableSystem),
            "dropzone" | "unknown" => Some(Other),
            _ => None,
        };
        legacy
            .or_else(|| ClassificationType::ALL.iter().copied().find(|t| t.as_str() == wanted))
            .ok_or_else(|| UnknownClassification(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_eleven_taxonomies_and_44_types() {
        assert_eq!(Taxonomy::ALL.len(), 11);
        assert_eq!(ClassificationType::ALL.len(), 44);
    }

    #[test]
    fn every_type_round_trips_through_its_name() {
        for t in ClassificationType::ALL {
            assert_eq!(t.as_str().parse::<ClassificationType>().unwrap(), *t);
        }
        for t in Taxonomy::ALL {
            assert_eq!(t.as_str().parse::<Taxonomy>().unwrap(), *t);
        }
    }

    #[test]
    fn legacy_names_map_as_intelmq_maps_them() {
        assert_eq!("botnet drone".parse::<ClassificationType>().unwrap(), ClassificationType::InfectedSystem);
        assert_eq!("ransomware".parse::<ClassificationType>().unwrap(), ClassificationType::InfectedSystem);
        assert_eq!("c&c".parse::<ClassificationType>().unwrap(), ClassificationType::C2Server);
        assert_eq!(ClassificationType::C2Server.taxonomy(), Taxonomy::MaliciousCode);
        assert_eq!(ClassificationType::DgaDomain.taxonomy(), Taxonomy::Other);
        assert!("nonsense".parse::<ClassificationType>().is_err());
    }
}
