//! The word lists the rules match against: weekdays, months, number and ordinal words,
//! magnitudes and currencies.

pub(super) const WEEKDAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
pub(super) const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Abbreviations, only taken next to a number (`Nov 20`, `20 Nov 2019`).
pub(super) const MONTH_ABBREVIATIONS: &[&str] = &[
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
];
/// Month names that are also ordinary words: only taken next to a number.
pub(super) const AMBIGUOUS_MONTHS: &[&str] = &["may", "march"];
pub(super) const RELATIVE_DAYS: &[&str] = &["today", "tomorrow", "yesterday"];
pub(super) const TIME_WORDS: &[&str] = &["tonight", "noon", "midnight"];
pub(super) const PERIOD_WORDS: &[&str] = &["week", "month", "year", "weekend", "decade", "century"];
pub(super) const PERIOD_LEADS: &[&str] = &["this", "next", "last"];
pub(super) const NUMBER_WORDS: &[&str] = &[
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "thousand",
    "million",
    "billion",
    "dozen",
    "dozens",
    "hundreds",
    "thousands",
    "millions",
    "billions",
];
pub(super) const ORDINAL_WORDS: &[&str] = &[
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
];
pub(super) const MAGNITUDES: &[&str] = &[
    "hundred", "thousand", "million", "billion", "trillion", "k", "m", "bn", "mn", "b",
];
pub(super) const CURRENCY_WORDS: &[&str] = &[
    "dollars", "dollar", "usd", "eur", "euros", "euro", "gbp", "pounds", "inr", "rupees", "rupee",
    "yen", "bucks", "btc",
];
pub(super) const CURRENCY_SYMBOLS: &[char] = &['$', '€', '£', '¥', '₹'];
/// Trailing characters never part of a URL.
pub(super) const URL_TRAILING: &[char] = &['.', ',', ';', ':', '!', '?', ')', ']', '"', '\'', '…'];
