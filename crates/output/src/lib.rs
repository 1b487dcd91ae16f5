//! Outputs: the situation report a national CERT publishes, as text, JSON and one
//! self-contained HTML page.
//!
//! The binary reads the period's aggregates from the store into a [`ReportInput`];
//! [`Report::build`] turns them into the statements and tables; the renderers only format.
//!
//! ```
//! use vedette_output::{Report, ReportInput};
//! use vedette_model::Period;
//!
//! let period = Period::new("2013-01-01".parse().unwrap(), "2013-05-31".parse().unwrap()).unwrap();
//! let report = Report::build(ReportInput::empty(period, "CN".parse().unwrap()));
//! assert!(report.to_text().contains("no C2 activity"));
//! ```

mod countries;
mod html;
mod map;
mod markdown;
mod report;
mod text;

pub use countries::{country_name, COUNTRIES};
pub use report::{CountryRow, Headline, PreviousHeadline, PreviousPeriod, Report, ReportInput, REPORT_SCHEMA};
