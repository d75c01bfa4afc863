//! Word lists for the synthetic tweet generator.

/// A topic: sentence templates (`{k}` = one of `keywords`) and its hashtags' ranks in [`TAGS`].
pub struct Topic {
    pub weight: u32,
    pub templates: &'static [&'static str],
    pub keywords: &'static [&'static str],
    pub tag_range: (usize, usize),
}

/// ~60 hashtags grouped by topic (ranges in [`Topic::tag_range`]); popularity is Zipf by rank
/// within the group and over the whole list.
pub const TAGS: &[&str] = &[
    // 0..16 AI / ML / data engineering
    "AI",
    "MachineLearning",
    "DataScience",
    "DeepLearning",
    "BigData",
    "NLP",
    "Python",
    "Pytorch",
    "ApacheKafka",
    "DataEngineering",
    "ComputerVision",
    "MLOps",
    "LLM",
    "Analytics",
    "100DaysOfCode",
    "TensorFlow",
    // 16..22 climate
    "ClimateChange",
    "ClimateAction",
    "Sustainability",
    "NetZero",
    "Renewables",
    "COP28",
    // 22..28 space
    "Space",
    "NASA",
    "Mars",
    "SpaceX",
    "Astronomy",
    "Artemis",
    // 28..35 football
    "Football",
    "PremierLeague",
    "UCL",
    "LaLiga",
    "WorldCup",
    "MUFC",
    "YNWA",
    // 35..41 food
    "Foodie",
    "Vegan",
    "Recipe",
    "Coffee",
    "Pizza",
    "Brunch",
    // 41..47 music
    "NowPlaying",
    "Music",
    "NewMusic",
    "Spotify",
    "Jazz",
    "Vinyl",
    // 47..53 nature
    "Nature",
    "Hiking",
    "Photography",
    "Wildlife",
    "Sunset",
    "Birding",
    // 53..60 astrology
    "Astrology",
    "Horoscope",
    "Zodiac",
    "MercuryRetrograde",
    "Leo",
    "Scorpio",
    "FullMoon",
];

pub const TOPICS: &[Topic] = &[
    Topic {
        weight: 40,
        templates: &[
            "Spent the whole weekend learning {k} and it finally clicked.",
            "Hot take: most teams do not need {k}, they need clean data.",
            "Our new pipeline runs on {k} and latency dropped by half!",
            "Anyone have a good intro course on {k}? Asking for a friend.",
            "Great talk today about {k} in production, slides below.",
            "Why does every job posting now ask for five years of {k}?",
            "Reading a paper on {k} over coffee. Mind blown.",
            "Debugging {k} at 2am is a special kind of pain.",
            "Thread on what I learned shipping {k} to real users.",
            "Is {k} overhyped or are we just getting started?",
        ],
        keywords: &[
            "machine learning",
            "deep learning",
            "Pytorch",
            "apache kafka",
            "big data",
            "NLP",
            "computer vision",
            "data pipelines",
            "stream processing",
            "transformers",
            "feature stores",
            "Spark",
            "LLMs",
            "data engineering",
        ],
        tag_range: (0, 16),
    },
    Topic {
        weight: 10,
        templates: &[
            "Another record hot month. {k} is not a future problem.",
            "Planted twenty trees with the neighbours today for {k}.",
            "The new report on {k} is sobering but there is hope.",
            "Cycling to work all winter, my small bit for {k}.",
        ],
        keywords: &[
            "climate change",
            "the energy transition",
            "sea level rise",
            "clean air",
        ],
        tag_range: (16, 22),
    },
    Topic {
        weight: 9,
        templates: &[
            "Watching the launch live, {k} never gets old.",
            "New images of {k} just dropped and they are stunning.",
            "Kids asked me about {k} tonight, we stayed up stargazing.",
        ],
        keywords: &[
            "Mars",
            "the Moon",
            "Jupiter",
            "the ISS",
            "a distant galaxy",
            "Starship",
        ],
        tag_range: (22, 28),
    },
    Topic {
        weight: 12,
        templates: &[
            "What a finish! {k} deserved that win.",
            "Can't believe the referee missed that. {k} robbed again.",
            "Matchday! Come on {k}!",
            "Transfer rumours about {k} are getting out of hand.",
        ],
        keywords: &[
            "Liverpool",
            "Arsenal",
            "Real Madrid",
            "Barcelona",
            "United",
            "City",
        ],
        tag_range: (28, 35),
    },
    Topic {
        weight: 9,
        templates: &[
            "Made {k} from scratch tonight and it was perfect.",
            "Best {k} in town, no contest.",
            "Sunday plans: {k} and absolutely nothing else.",
        ],
        keywords: &[
            "pasta",
            "ramen",
            "pizza",
            "banana bread",
            "tacos",
            "a flat white",
        ],
        tag_range: (35, 41),
    },
    Topic {
        weight: 8,
        templates: &[
            "On repeat all day: {k}.",
            "Saw {k} live last night, still buzzing.",
            "Found an old record by {k} at the market.",
        ],
        keywords: &[
            "Miles Davis",
            "Radiohead",
            "Beyonce",
            "Daft Punk",
            "Nina Simone",
        ],
        tag_range: (41, 47),
    },
    Topic {
        weight: 7,
        templates: &[
            "Morning walk through {k}, so peaceful.",
            "Spotted a heron near {k} today.",
            "The light over {k} this evening was unreal.",
        ],
        keywords: &[
            "the forest",
            "the lake",
            "the hills",
            "the old oak park",
            "the river",
        ],
        tag_range: (47, 53),
    },
    Topic {
        weight: 5,
        templates: &[
            "Of course it is {k} season again, explains everything.",
            "My horoscope says {k} will bring good news this week.",
        ],
        keywords: &[
            "Mercury retrograde",
            "the full moon",
            "Venus",
            "Saturn return",
        ],
        tag_range: (53, 60),
    },
];

/// Non-English one-liners with their language, for a little `lang` variety.
pub const FOREIGN: &[(&str, &str)] = &[
    ("es", "Qué partido tan increíble, no me lo puedo creer."),
    (
        "es",
        "Aprendiendo aprendizaje automático con Python este verano.",
    ),
    ("fr", "Quelle belle journée pour une randonnée en montagne."),
    ("fr", "Les données sont le nouveau pétrole, paraît-il."),
    ("de", "Heute gibt es Kaffee und Kuchen im Garten."),
    ("pt", "Que jogo! O time jogou muito bem hoje."),
    ("ja", "今日はとても良い天気ですね。"),
];

pub const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi",
    "Lena", "Marco", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor",
    "Wen", "Ximena", "Yusuf", "Zoe",
];
pub const LAST: &[&str] = &[
    "Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fujita", "Garcia", "Hughes", "Ito", "Jansen",
    "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Smith", "Tanaka",
];
pub const HANDLE_WORDS: &[&str] = &[
    "data", "byte", "pixel", "green", "cosmo", "goal", "chef", "vinyl", "trail", "star", "neural",
    "stream", "lake", "tensor", "kafka", "moon", "rover", "spice", "beat", "fern",
];

/// `source` anchors (href, client name).
pub const SOURCES: &[(&str, &str)] = &[
    ("http://twitter.com/download/iphone", "Twitter for iPhone"),
    ("http://twitter.com/download/android", "Twitter for Android"),
    ("https://mobile.twitter.com", "Twitter Web App"),
    ("https://ifttt.com", "IFTTT"),
    ("https://example.org/newsbot", "Data News Bot"),
];

/// Domains for shared links.
pub const DOMAINS: &[&str] = &[
    "github.com",
    "medium.com",
    "arxiv.org",
    "bbc.co.uk",
    "nasa.gov",
    "youtube.com",
    "example.com",
    "kafka.apache.org",
    "pytorch.org",
    "theguardian.com",
];
