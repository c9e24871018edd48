//! The generator's vocabulary: columns, value distributions and noise, after the project's
//! reference generator (`tools/gen_users.py`). Weights are relative.

pub type W = &'static [(&'static str, f64)];

pub const CSV_HEADER: [&str; 33] = [
    "id", "status", "created", "lastUpdated", "login", "email", "secondEmail", "firstName",
    "lastName", "middleName", "displayName", "nickName", "title", "department", "division",
    "organization", "costCenter", "userType", "employeeNumber", "managerId", "manager",
    "managerEmail", "isManager", "managementLevel", "streetAddress", "city", "state", "zipCode",
    "countryCode", "preferredLanguage", "locale", "timezone", "mobilePhone",
];

/// Name pools: "native|romanised" or a plain name (`_` stands for a space).
pub struct Pool {
    pub firsts: &'static [&'static str],
    pub lasts: &'static [&'static str],
}

pub const POOL_EN: Pool = Pool {
    firsts: &["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Karen", "Daniel", "Lisa", "Matthew", "Ashley", "Kevin", "Emily", "Priya", "Rahul", "Aisha", "Wei", "Mei", "Olivia", "Liam", "Noah", "Zoë", "Renée", "Chloé", "Mary-Jane", "D'Andre", "Siobhán", "Seán", "Nikhil", "Fatima", "Oluwaseun", "Thanh", "Kwame", "Connor", "Jose", "Maria"],
    lasts: &["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Wilson", "Anderson", "Taylor", "Lee", "Nguyen", "Patel", "Shah", "Singh", "Chen", "Wang", "Kim", "Park", "O'Brien", "O'Neill", "McDonald", "Smith-Jones", "Okafor", "Iyer", "Huang", "Tran", "Nguyễn", "Müller", "Ó_Súilleabháin", "Van_der_Berg", "de_la_Cruz", "St._John"],
};
pub const POOL_FR: Pool = Pool {
    firsts: &["Jean", "Marie", "Pierre", "Camille", "Léa", "Chloé", "Hélène", "François", "Théo", "Noémie", "Éloïse", "Zoé", "Gaëlle", "Jérôme", "Céline", "Benoît", "Anaïs", "Jean-François", "Marie-Ève"],
    lasts: &["Martin", "Bernard", "Dubois", "Thomas", "Petit", "Durand", "Leroy", "Moreau", "Lefèvre", "Girard", "André", "Gagnon", "Tremblay", "Côté", "Bélanger", "Lévesque", "Saint-Pierre"],
};
pub const POOL_ES: Pool = Pool {
    firsts: &["José", "María", "Juan", "Ana", "Luis", "Carmen", "Lucía", "Javier", "Sofía", "Jesús", "Ángel", "Raúl", "Inés", "Andrés", "Joaquín", "Begoña", "Íñigo", "Álvaro", "María_José"],
    lasts: &["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Jiménez", "Muñoz", "Álvarez", "Gutiérrez", "Domínguez", "García_López", "Peña"],
};
pub const POOL_KO: Pool = Pool {
    firsts: &["민준|Minjun", "서연|Seoyeon", "도윤|Doyun", "서윤|Seoyun", "지우|Jiwoo", "하준|Hajun", "지민|Jimin", "수아|Sua", "현우|Hyunwoo", "은지|Eunji", "성민|Sungmin", "혜진|Hyejin"],
    lasts: &["김|Kim", "이|Lee", "박|Park", "최|Choi", "정|Jung", "강|Kang", "조|Cho", "윤|Yoon", "장|Jang", "한|Han"],
};
pub const POOL_JA: Pool = Pool {
    firsts: &["翔太|Shota", "陽菜|Hina", "大輝|Daiki", "結衣|Yui", "蓮|Ren", "さくら|Sakura", "悠真|Yuma", "美咲|Misaki", "拓海|Takumi", "健太|Kenta", "誠|Makoto", "直樹|Naoki"],
    lasts: &["佐藤|Sato", "鈴木|Suzuki", "高橋|Takahashi", "田中|Tanaka", "伊藤|Ito", "渡辺|Watanabe", "山本|Yamamoto", "中村|Nakamura", "小林|Kobayashi", "山田|Yamada"],
};
pub const POOL_EU: Pool = Pool {
    firsts: &["Jürgen", "Björn", "Søren", "Łukasz", "Małgorzata", "Jörg", "Günter", "Åsa", "Ingrid", "Paweł", "Jiří", "Tomáš", "Ágnes", "Felix", "Sophie"],
    lasts: &["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Schäfer", "Jäger", "Groß", "Kowalski", "Wiśniewski", "Nowak", "Sørensen", "Åberg", "Öztürk", "Dvořák", "de_Vries"],
};

/// Title language of an office.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
    Es,
    Ko,
    Ja,
}

pub struct Office {
    pub city: &'static str,
    pub cities: &'static [&'static str],
    pub states: &'static [&'static str],
    pub zips: &'static [&'static str],
    pub country: W,
    pub street: &'static str,
    pub division: &'static str,
    pub locales: W,
    pub languages: W,
    pub tz: &'static str,
    pub tz_odd: &'static [&'static str],
    pub phone: &'static str,
    pub pool: &'static Pool,
    pub lang: Lang,
    pub orgs: W,
    pub weight: f64,
}

const LANG_EN: W = &[("en", 35.0), ("en-US", 20.0), ("English", 10.0), ("EN", 3.0), ("", 32.0)];
const LANG_FR: W = &[("fr", 35.0), ("fr-CA", 10.0), ("French", 8.0), ("Français", 5.0), ("FR", 2.0), ("en", 5.0), ("", 35.0)];
const LANG_ES: W = &[("es", 35.0), ("es-ES", 10.0), ("Spanish", 8.0), ("Español", 5.0), ("en", 5.0), ("", 37.0)];
const LANG_KO: W = &[("ko", 40.0), ("ko-KR", 10.0), ("Korean", 8.0), ("한국어", 4.0), ("en", 6.0), ("", 32.0)];
const LANG_JA: W = &[("ja", 40.0), ("ja-JP", 10.0), ("Japanese", 8.0), ("日本語", 4.0), ("en", 6.0), ("", 32.0)];
const ORG_DEFAULT: W = &[("Acme Corp", 60.0), ("Acme Corporation", 10.0), ("ACME Inc.", 5.0), ("Acme, Inc.", 10.0), ("", 15.0)];

pub const OFFICES: &[Office] = &[
    Office { city: "San Francisco", cities: &["SF", "san francisco", "San Francisco, CA"], states: &["CA", "California", "ca"], zips: &["94105", "94105-1804"],
        country: &[("US", 80.0), ("us", 3.0), ("USA", 5.0), ("United States", 4.0), ("U.S.", 1.0), ("", 7.0)], street: "100 Market Street", division: "North America",
        locales: &[("en_US", 50.0), ("en-US", 20.0), ("en-us", 5.0), ("EN_US", 2.0), ("en", 5.0), ("English", 3.0), ("", 10.0), ("en_US.UTF-8", 1.0), ("English (United States)", 1.0), ("es_US", 2.0), ("en_GB", 1.0)],
        languages: LANG_EN, tz: "America/Los_Angeles", tz_odd: &["PST", "Pacific Standard Time", "US/Pacific"], phone: "+1 415", pool: &POOL_EN, lang: Lang::En, orgs: ORG_DEFAULT, weight: 14.0 },
    Office { city: "New York", cities: &["NYC", "new york", "New York City"], states: &["NY", "New York"], zips: &["10001", "10018-2704"],
        country: &[("US", 80.0), ("USA", 5.0), ("United States", 4.0), ("", 7.0)], street: "250 West 34th Street", division: "North America",
        locales: &[("en_US", 50.0), ("en-US", 20.0), ("en-us", 5.0), ("EN_US", 2.0), ("", 10.0), ("es_US", 2.0)],
        languages: LANG_EN, tz: "America/New_York", tz_odd: &["EST", "Eastern Standard Time", "US/Eastern"], phone: "+1 212", pool: &POOL_EN, lang: Lang::En, orgs: ORG_DEFAULT, weight: 12.0 },
    Office { city: "Austin", cities: &["austin", "AUSTIN"], states: &["TX", "Texas"], zips: &["78701"],
        country: &[("US", 80.0), ("USA", 5.0), ("", 7.0)], street: "600 Congress Avenue", division: "North America",
        locales: &[("en_US", 60.0), ("en-US", 20.0), ("", 10.0)],
        languages: LANG_EN, tz: "America/Chicago", tz_odd: &["CST", "US/Central"], phone: "+1 512", pool: &POOL_EN, lang: Lang::En, orgs: ORG_DEFAULT, weight: 6.0 },
    Office { city: "Remote", cities: &["Remote - US", "remote", ""], states: &["", "CA", "TX", "FL"], zips: &["", "33101", "97201"],
        country: &[("US", 80.0), ("United States", 4.0), ("", 7.0)], street: "", division: "North America",
        locales: &[("en_US", 50.0), ("en-US", 20.0), ("", 10.0)],
        languages: LANG_EN, tz: "America/Chicago", tz_odd: &["CST"], phone: "+1 555", pool: &POOL_EN, lang: Lang::En, orgs: ORG_DEFAULT, weight: 5.0 },
    Office { city: "Montréal", cities: &["Montreal", "montréal", "MTL"], states: &["QC", "Québec", "Quebec"], zips: &["H3B 4W8"],
        country: &[("CA", 80.0), ("ca", 3.0), ("CAN", 3.0), ("Canada", 7.0), ("", 7.0)], street: "1000 Rue De La Gauchetière Ouest", division: "Americas",
        locales: &[("fr_CA", 45.0), ("fr-CA", 15.0), ("fr-ca", 5.0), ("FR_CA", 2.0), ("French", 5.0), ("Français", 3.0), ("fr", 5.0), ("en_CA", 8.0), ("en_US", 4.0), ("", 8.0)],
        languages: LANG_FR, tz: "America/Toronto", tz_odd: &["EST"], phone: "+1 514", pool: &POOL_FR, lang: Lang::Fr, orgs: ORG_DEFAULT, weight: 3.0 },
    Office { city: "Ciudad de México", cities: &["Mexico City", "CDMX", "Ciudad de Mexico"], states: &["CDMX", ""], zips: &["06600"],
        country: &[("MX", 80.0), ("Mexico", 8.0), ("México", 4.0), ("", 8.0)], street: "Paseo de la Reforma 505", division: "LATAM",
        locales: &[("es_MX", 55.0), ("es-MX", 10.0), ("es_ES", 5.0), ("Spanish", 5.0), ("Español", 3.0), ("es", 8.0), ("en_US", 5.0), ("", 9.0)],
        languages: LANG_ES, tz: "America/Mexico_City", tz_odd: &["CST"], phone: "+52 55", pool: &POOL_ES, lang: Lang::Es, orgs: ORG_DEFAULT, weight: 2.0 },
    Office { city: "London", cities: &["london", "LONDON", "London, UK"], states: &[""], zips: &["EC2A 4BX"],
        country: &[("GB", 60.0), ("UK", 15.0), ("United Kingdom", 10.0), ("gb", 3.0), ("", 12.0)], street: "1 Finsbury Avenue", division: "EMEA",
        locales: &[("en_GB", 60.0), ("en-GB", 15.0), ("en_US", 10.0), ("English", 5.0), ("", 10.0)],
        languages: LANG_EN, tz: "Europe/London", tz_odd: &["GMT", "BST"], phone: "+44 20", pool: &POOL_EN, lang: Lang::En, orgs: ORG_DEFAULT, weight: 6.0 },
    Office { city: "Paris", cities: &["paris", "PARIS"], states: &["", "Île-de-France"], zips: &["75008"],
        country: &[("FR", 80.0), ("France", 10.0), ("fr", 3.0), ("", 7.0)], street: "8 Rue de la Paix", division: "EMEA",
        locales: &[("fr_FR", 55.0), ("fr-FR", 12.0), ("fr", 8.0), ("French", 5.0), ("Français", 4.0), ("fr_CA", 2.0), ("en_US", 4.0), ("", 10.0)],
        languages: LANG_FR, tz: "Europe/Paris", tz_odd: &["CET"], phone: "+33 1", pool: &POOL_FR, lang: Lang::Fr, orgs: &[("Acme France SAS", 70.0), ("Acme Corp", 20.0), ("", 10.0)], weight: 4.0 },
    Office { city: "Madrid", cities: &["madrid", "MADRID"], states: &["", "Comunidad de Madrid"], zips: &["28001"],
        country: &[("ES", 80.0), ("Spain", 7.0), ("España", 5.0), ("", 8.0)], street: "Calle de Serrano 41", division: "EMEA",
        locales: &[("es_ES", 55.0), ("es-ES", 15.0), ("es-es", 3.0), ("es", 8.0), ("Spanish", 5.0), ("Español", 3.0), ("ca_ES", 2.0), ("en_US", 3.0), ("", 6.0)],
        languages: LANG_ES, tz: "Europe/Madrid", tz_odd: &["CET"], phone: "+34 91", pool: &POOL_ES, lang: Lang::Es, orgs: &[("Acme Iberia, S.L.", 60.0), ("Acme Corp", 30.0), ("", 10.0)], weight: 3.0 },
    Office { city: "Berlin", cities: &["berlin"], states: &[""], zips: &["10115"],
        country: &[("DE", 80.0), ("Germany", 7.0), ("Deutschland", 4.0), ("", 9.0)], street: "Friedrichstraße 68", division: "EMEA",
        locales: &[("de_DE", 55.0), ("de-DE", 10.0), ("German", 5.0), ("Deutsch", 3.0), ("en_US", 12.0), ("", 15.0)],
        languages: LANG_EN, tz: "Europe/Berlin", tz_odd: &["CET"], phone: "+49 30", pool: &POOL_EU, lang: Lang::En, orgs: ORG_DEFAULT, weight: 2.0 },
    Office { city: "Seoul", cities: &["서울", "서울특별시", "seoul", "SEOUL"], states: &["", "서울특별시"], zips: &["06236"],
        country: &[("KR", 75.0), ("Korea, Republic of", 6.0), ("South Korea", 6.0), ("kr", 3.0), ("", 10.0)], street: "152 Teheran-ro, Gangnam-gu", division: "APAC",
        locales: &[("ko_KR", 40.0), ("ko", 18.0), ("ko-KR", 10.0), ("KO", 2.0), ("Korean", 5.0), ("한국어", 3.0), ("ko_KR.UTF-8", 1.0), ("en_US", 11.0), ("", 10.0)],
        languages: LANG_KO, tz: "Asia/Seoul", tz_odd: &["KST"], phone: "+82 2", pool: &POOL_KO, lang: Lang::Ko, orgs: &[("Acme Korea Ltd.", 50.0), ("(주)애크미코리아", 20.0), ("Acme Corp", 20.0), ("", 10.0)], weight: 5.0 },
    Office { city: "Tokyo", cities: &["東京", "東京都", "tokyo", "TOKYO"], states: &["Tokyo", "東京都", ""], zips: &["100-0005", "1000005"],
        country: &[("JP", 80.0), ("Japan", 8.0), ("JPN", 3.0), ("日本", 2.0), ("", 7.0)], street: "1-1-1 Marunouchi, Chiyoda-ku", division: "APAC",
        locales: &[("ja_JP", 40.0), ("ja", 18.0), ("ja-JP", 10.0), ("JA", 2.0), ("Japanese", 5.0), ("日本語", 3.0), ("jp", 2.0), ("en_US", 10.0), ("", 10.0)],
        languages: LANG_JA, tz: "Asia/Tokyo", tz_odd: &["JST"], phone: "+81 3", pool: &POOL_JA, lang: Lang::Ja, orgs: &[("Acme Japan KK", 40.0), ("アクメ・ジャパン株式会社", 25.0), ("Acme Corp", 25.0), ("", 10.0)], weight: 4.0 },
    Office { city: "Bengaluru", cities: &["Bangalore", "bengaluru", "BLR"], states: &["KA", "Karnataka"], zips: &["560001"],
        country: &[("IN", 80.0), ("India", 10.0), ("", 10.0)], street: "1 MG Road", division: "APAC",
        locales: &[("en_IN", 40.0), ("en_US", 30.0), ("en-IN", 8.0), ("hi_IN", 3.0), ("", 19.0)],
        languages: LANG_EN, tz: "Asia/Kolkata", tz_odd: &["IST"], phone: "+91 80", pool: &POOL_EN, lang: Lang::En, orgs: ORG_DEFAULT, weight: 4.0 },
];

/// A department: name, weight, function phrases for titles, department cell variants, role nouns.
pub struct Dept {
    pub name: &'static str,
    pub weight: f64,
    pub functions: &'static [&'static str],
    pub cells: W,
    pub roles: &'static [&'static str],
}

pub const DEPTS: &[Dept] = &[
    Dept { name: "Engineering", weight: 22.0, functions: &["Engineering", "Software Engineering", "Platform Engineering", "Infrastructure", "Backend Engineering", "Site Reliability"],
        cells: &[("Engineering", 50.0), ("engineering", 5.0), ("ENGINEERING", 3.0), ("Eng", 5.0), ("R&D", 8.0), ("Engineering - Platform", 6.0), ("Engineering, Infrastructure", 4.0), ("Product & Engineering", 5.0), ("", 8.0)],
        roles: &["Software Engineer", "Software Developer", "Backend Engineer", "Frontend Engineer", "Full Stack Engineer", "Mobile Engineer", "iOS Engineer", "Site Reliability Engineer", "SRE", "DevOps Engineer", "Platform Engineer", "QA Engineer", "SDET", "Firmware Engineer", "Software Architect", "Member of Technical Staff", "MTS", "Developer", "Engineer"] },
    Dept { name: "Product", weight: 5.0, functions: &["Product", "Product Management", "Program Management"],
        cells: &[("Product", 55.0), ("Product Management", 20.0), ("product", 5.0), ("PM", 5.0), ("", 15.0)],
        roles: &["Product Manager", "Technical Product Manager", "Product Owner", "Program Manager", "Technical Program Manager", "TPM", "Project Manager", "Scrum Master"] },
    Dept { name: "Sales", weight: 14.0, functions: &["Sales", "Enterprise Sales", "Inside Sales", "Sales Operations", "Partnerships"],
        cells: &[("Sales", 50.0), ("sales", 5.0), ("Sales - EMEA", 6.0), ("Sales, Enterprise", 4.0), ("Ventes", 2.0), ("Ventas", 2.0), ("", 18.0)],
        roles: &["Account Executive", "Enterprise Account Executive", "Sales Development Representative", "SDR", "BDR", "Account Manager", "Key Account Manager", "Sales Engineer", "Solutions Engineer", "Sales Associate", "Account Director"] },
    Dept { name: "Marketing", weight: 6.0, functions: &["Marketing", "Product Marketing", "Demand Generation", "Brand", "Communications"],
        cells: &[("Marketing", 60.0), ("marketing", 5.0), ("Mktg", 5.0), ("Marketing & Communications", 8.0), ("Brand, Content & Comms", 4.0), ("", 18.0)],
        roles: &["Marketing Manager", "Product Marketing Manager", "Marketing Specialist", "Marketing Coordinator", "SEO Specialist", "Copywriter", "Community Manager"] },
    Dept { name: "Support", weight: 8.0, functions: &["Support", "Customer Support", "Technical Support", "Customer Care"],
        cells: &[("Support", 40.0), ("Customer Support", 25.0), ("Technical Support", 10.0), ("support", 5.0), ("", 20.0)],
        roles: &["Customer Support Representative", "Support Engineer", "Technical Support Engineer", "Help Desk Technician", "Service Desk Analyst", "Call Center Agent", "Support Agent"] },
    Dept { name: "Finance", weight: 5.0, functions: &["Finance", "Accounting", "FP&A", "Treasury", "Tax"],
        cells: &[("Finance", 50.0), ("Finance & Accounting", 10.0), ("Accounting", 10.0), ("G&A", 8.0), ("FIN", 4.0), ("", 18.0)],
        roles: &["Accountant", "Staff Accountant", "Financial Analyst", "FP&A Analyst", "Controller", "Payroll Specialist", "Auditor", "Bookkeeper", "Buyer"] },
    Dept { name: "People", weight: 3.0, functions: &["People", "Human Resources", "HR", "Talent Acquisition", "Recruiting"],
        cells: &[("People", 30.0), ("Human Resources", 20.0), ("HR", 15.0), ("People Ops", 5.0), ("Talent Acquisition", 8.0), ("People & Culture", 5.0), ("", 17.0)],
        roles: &["Recruiter", "Technical Recruiter", "Sourcer", "HR Business Partner", "HRBP", "HR Generalist", "HR Coordinator", "HRIS Analyst"] },
    Dept { name: "Operations", weight: 6.0, functions: &["Operations", "Business Operations", "Supply Chain", "Workplace", "Strategy"],
        cells: &[("Operations", 40.0), ("Ops", 8.0), ("Business Operations", 12.0), ("Workplace", 8.0), ("Supply Chain", 8.0), ("", 24.0)],
        roles: &["Operations Analyst", "Operations Coordinator", "Logistics Coordinator", "Office Manager", "Executive Assistant", "Administrative Assistant", "Receptionist", "Business Analyst", "Chief of Staff"] },
    Dept { name: "Manufacturing", weight: 9.0, functions: &["Manufacturing", "Production", "Quality", "Field Service", "Retail"],
        cells: &[("Manufacturing", 35.0), ("Production", 15.0), ("Quality", 10.0), ("Field Operations", 10.0), ("Retail", 10.0), ("", 20.0)],
        roles: &["Field Service Technician", "Technician", "Machine Operator", "Assembler", "Quality Inspector", "Quality Engineer", "Production Associate", "Driver", "Store Associate", "Cashier", "Forklift Operator"] },
];

pub const REGIONS: &[&str] = &["EMEA", "EMEA", "Americas", "North America", "NA", "APAC", "APJ", "LATAM", "Global", "US East", "US West", "DACH", "UK&I", "Nordics", "ANZ", "Japan", "Korea", "France"];

// Level categories, as in the reference generator.
pub const STUDENT: usize = 0;
pub const INTERN: usize = 1;
pub const ANALYST: usize = 2;
pub const ASSOCIATE: usize = 3;
pub const IC: usize = 4;
pub const MANAGER: usize = 5;
pub const SR_MANAGER: usize = 6;
pub const DIRECTOR: usize = 7;
pub const SR_DIRECTOR: usize = 8;
pub const VP: usize = 9;
pub const SVP: usize = 10;
pub const EXECUTIVE: usize = 11;

/// Title templates per category. {f} function, {r} role noun, {g} region.
pub const TEMPLATES: [W; 12] = [
    &[("Student", 30.0), ("Student Worker", 15.0), ("Working Student", 12.0), ("Student Assistant", 10.0), ("PhD Student", 6.0), ("Graduate Student Researcher", 5.0), ("Student Intern", 5.0), ("Werkstudent", 3.0), ("Student - {f}", 5.0), ("Part-time Student", 5.0)],
    &[("Intern", 12.0), ("{f} Intern", 20.0), ("{r} Intern", 15.0), ("Summer Intern", 6.0), ("Intern - {f}", 8.0), ("Intern, {f}", 6.0), ("Software Engineering Intern", 8.0), ("Co-op", 3.0), ("Co-op Student", 3.0), ("Trainee", 3.0), ("Graduate Trainee", 2.0), ("Apprentice", 2.0), ("Intern ({g})", 2.0)],
    &[("{f} Analyst", 30.0), ("Analyst", 12.0), ("Analyst, {f}", 12.0), ("Analyst I", 4.0), ("Analyst II", 4.0), ("Associate Analyst", 5.0), ("Business Analyst", 8.0), ("Data Analyst", 6.0), ("Analyst - {f} ({g})", 3.0), ("Jr. Analyst", 3.0), ("Sr. Analyst, {f}", 4.0), ("Senior {f} Analyst", 4.0)],
    &[("Associate", 10.0), ("Associate, {f}", 15.0), ("{f} Associate", 20.0), ("Associate {r}", 20.0), ("Junior Associate", 3.0), ("Associate - {g}", 3.0), ("Sales Associate", 8.0), ("Associate II", 3.0), ("Senior Associate", 5.0), ("Associate Consultant", 5.0)],
    &[], // IC titles are built from prefixes, role nouns, levels and suffixes
    &[("{f} Manager", 20.0), ("Manager, {f}", 15.0), ("Manager of {f}", 4.0), ("Manager - {f}", 4.0), ("{f} Team Lead", 6.0), ("Team Lead, {f}", 4.0), ("Team Lead", 2.0), ("Supervisor, {f}", 3.0), ("{f} Supervisor", 3.0), ("Mgr, {f}", 2.0), ("{f} Mgr", 2.0), ("Manager", 3.0), ("Engineering Manager", 6.0), ("Manager, {f} - {g}", 3.0), ("{f} Manager ({g})", 2.0), ("Manager II, {f}", 2.0), ("People Manager, {f}", 1.0), ("Store Manager", 1.0), ("Shift Supervisor", 1.0), ("Acting Manager, {f}", 1.0)],
    &[("Sr. Manager, {f}", 20.0), ("Senior Manager, {f}", 20.0), ("Senior {f} Manager", 10.0), ("Sr Mgr {f}", 4.0), ("Sr. {f} Manager", 6.0), ("Senior Engineering Manager", 5.0), ("Sr. Manager", 3.0), ("Senior Manager - {f} - {g}", 3.0), ("Manager III, {f}", 2.0), ("SR. MANAGER, {f}", 1.0), ("Group Manager, {f}", 3.0)],
    &[("Director, {f}", 20.0), ("Director of {f}", 18.0), ("{f} Director", 8.0), ("Head of {f}", 10.0), ("Dir. {f}", 2.0), ("Director", 3.0), ("Director - {f} - {g}", 4.0), ("Director, {f}, {g}", 3.0), ("Associate Director, {f}", 4.0), ("Director of Engineering", 4.0), ("Head of {f}, {g}", 3.0), ("Interim Director, {f}", 1.0), ("{g} Director", 2.0)],
    &[("Sr. Director, {f}", 25.0), ("Senior Director, {f}", 20.0), ("Senior Director of {f}", 10.0), ("Sr Director {f}", 5.0), ("Sr. Dir. {f}", 2.0), ("Group Director, {f}", 4.0), ("Executive Director, {f}", 4.0), ("Head of {f}", 5.0), ("Senior Director - {g}", 3.0), ("Global Head of {f}", 3.0)],
    &[("VP, {f}", 20.0), ("VP of {f}", 12.0), ("Vice President, {f}", 14.0), ("Vice President of {f}", 8.0), ("{f} VP", 3.0), ("V.P. {f}", 2.0), ("VP, {f} - {g}", 6.0), ("Regional Vice President, {f}", 3.0), ("VP {f}", 5.0), ("AVP, {f}", 3.0), ("Vice-President {f}", 2.0), ("VP", 1.0), ("Head of {f}", 3.0), ("VP, {f}, {g}", 3.0), ("Vice President - {f} ({g})", 2.0)],
    &[("SVP, {f}", 25.0), ("Senior Vice President, {f}", 20.0), ("Sr. VP {f}", 5.0), ("Senior VP of {f}", 5.0), ("EVP, {f}", 10.0), ("Executive Vice President, {f}", 8.0), ("SVP {f} - {g}", 4.0), ("Sr. Vice President, {f}", 5.0), ("EVP & General Manager, {g}", 3.0), ("SVP & GM, {f}", 3.0)],
    &[("Chief Executive Officer", 4.0), ("CEO", 4.0), ("President & CEO", 2.0), ("Co-Founder & CEO", 1.0), ("Chief Financial Officer", 3.0), ("CFO", 2.0), ("Chief Technology Officer", 3.0), ("CTO", 2.0), ("Chief Operating Officer", 2.0), ("COO", 1.0), ("Chief Marketing Officer", 2.0), ("CMO", 1.0), ("Chief Revenue Officer", 2.0), ("CRO", 1.0), ("Chief Product Officer", 2.0), ("Chief People Officer", 2.0), ("CHRO", 1.0), ("CIO", 1.0), ("CISO", 1.0), ("General Counsel", 2.0), ("President", 2.0), ("President, {g}", 2.0), ("Founder", 1.0), ("Chief of Staff", 1.0), ("Managing Director, {g}", 2.0), ("General Manager, {g}", 2.0), ("Chief {f} Officer", 2.0), ("C.E.O.", 1.0)],
];

pub const IC_PREFIXES: W = &[("", 55.0), ("Senior ", 12.0), ("Sr. ", 8.0), ("Sr ", 3.0), ("Jr. ", 3.0), ("Junior ", 2.0), ("Lead ", 4.0), ("Principal ", 4.0), ("Staff ", 4.0), ("Senior Staff ", 1.0), ("Distinguished ", 0.3), ("Entry Level ", 0.5), ("SENIOR ", 0.5), ("sr. ", 0.5)];
pub const IC_LEVELS: W = &[("", 75.0), (" I", 3.0), (" II", 7.0), (" III", 5.0), (" IV", 1.0), (" 2", 2.0), (" L4", 2.0), (" (L5)", 1.0), (" - Level 3", 1.0), (", Grade 7", 0.5), (" L3", 1.0), (" 1", 1.0), (" Lvl 2", 0.5)];
pub const IC_SUFFIXES: W = &[("", 85.0), (", {d}", 5.0), (" - {g}", 5.0), (", {d} - {g}", 3.0), (" ({g})", 2.0)];
pub const SENIOR_LEAF: W = &[("Executive Assistant", 20.0), ("Executive Assistant to the CEO", 5.0), ("Chief of Staff", 10.0), ("Distinguished Engineer", 8.0), ("Principal Engineer", 10.0), ("Fellow", 3.0), ("Senior Principal {r}", 5.0), ("Principal {r}", 10.0), ("Staff {r}", 10.0), ("Special Advisor", 3.0), ("Strategic Advisor to the CEO", 2.0), ("Head of {f}", 4.0), ("Director, {f}", 4.0), ("Founding Engineer", 2.0), ("Board Member", 2.0)];

/// Titles in the office's language, per category (STUDENT..EXECUTIVE).
pub const FR_TITLES: [&[&str]; 12] = [
    &["Étudiant", "Étudiante", "Étudiant en alternance"],
    &["Stagiaire", "Stagiaire en marketing", "Alternant", "Alternante RH"],
    &["Analyste financier", "Analyste de données", "Analyste", "Analyste métier"],
    &["Associé", "Associée commerciale", "Chargé d'affaires junior"],
    &["Ingénieur logiciel", "Ingénieure logiciel senior", "Développeur", "Développeuse Full Stack", "Chargé de clientèle", "Chargée de communication", "Comptable", "Commercial", "Consultant", "Technicien de maintenance", "Assistante de direction", "Chef de projet", "Ingénieur QA", "Responsable de compte"],
    &["Responsable RH", "Responsable des ventes", "Chef d'équipe", "Manager, Ventes", "Responsable Marketing", "Gestionnaire d'équipe", "Responsable technique"],
    &["Responsable senior, Opérations", "Manager principal"],
    &["Directeur des ventes", "Directrice Marketing", "Directeur technique", "Directrice des ressources humaines", "Directeur, Ingénierie", "Directeur financier"],
    &["Directeur principal, Ventes", "Directrice principale"],
    &["Vice-président, Ventes", "Vice-présidente Marketing", "VP Ingénierie"],
    &["Vice-président principal, Opérations", "Vice-président exécutif"],
    &["Président-directeur général", "PDG", "Directeur général", "Présidente"],
];
pub const ES_TITLES: [&[&str]; 12] = [
    &["Estudiante", "Estudiante en prácticas"],
    &["Becario", "Becaria", "Practicante", "Becario de Ingeniería"],
    &["Analista", "Analista Financiero", "Analista de Datos", "Analista Sr."],
    &["Asociado", "Asociada de Ventas"],
    &["Ingeniero de Software", "Ingeniera de Datos", "Desarrollador", "Desarrolladora Backend", "Ejecutivo de Cuentas", "Contador", "Consultor", "Técnico de Soporte", "Vendedor", "Asistente Administrativo", "Diseñadora UX"],
    &["Gerente de Proyecto", "Gerente de Ventas", "Jefe de Equipo", "Jefa de Marketing", "Supervisor", "Coordinador de Equipo"],
    &["Gerente Senior, Operaciones", "Gerente Sr. de Ventas"],
    &["Director de Ventas", "Directora de Marketing", "Director de Ingeniería", "Directora de Recursos Humanos", "Director Financiero"],
    &["Director Sénior de Operaciones", "Directora Senior"],
    &["Vicepresidente de Ventas", "Vicepresidenta de Marketing", "VP de Ingeniería"],
    &["Vicepresidente Senior", "Vicepresidente Ejecutivo"],
    &["Director General", "Consejero Delegado", "Presidente", "CEO"],
];
pub const KO_TITLES: [&[&str]; 12] = [
    &["학생", "대학생 인턴"],
    &["인턴", "인턴 사원"],
    &["애널리스트", "데이터 분석가", "재무 분석가"],
    &["어소시에이트", "사원"],
    &["사원", "대리", "주임", "연구원", "선임연구원", "책임연구원", "소프트웨어 엔지니어", "개발자", "디자이너", "영업 담당"],
    &["과장", "차장", "팀장", "매니저", "파트장"],
    &["부장", "수석 매니저"],
    &["이사", "본부장", "디렉터"],
    &["상무이사", "시니어 디렉터"],
    &["상무", "부사장"],
    &["전무", "수석부사장"],
    &["대표이사", "사장", "대표", "CEO"],
];
pub const JA_TITLES: [&[&str]; 12] = [
    &["学生", "学生アルバイト"],
    &["インターン", "インターン生"],
    &["アナリスト", "データアナリスト", "財務アナリスト"],
    &["アソシエイト", "一般社員"],
    &["社員", "主任", "エンジニア", "ソフトウェアエンジニア", "シニアエンジニア", "営業担当", "デザイナー", "研究員", "事務", "スタッフ"],
    &["課長", "マネージャー", "係長", "チームリーダー", "グループリーダー"],
    &["次長", "シニアマネージャー", "課長代理"],
    &["部長", "ディレクター", "室長"],
    &["本部長", "統括部長"],
    &["執行役員", "副本部長"],
    &["常務執行役員", "専務取締役", "常務"],
    &["代表取締役社長", "取締役", "社長", "代表取締役", "CEO"],
];

/// Raw HRIS level codes per category.
pub const LEVEL_CODES: [W; 12] = [
    &[("Student", 5.0), ("STU", 2.0), ("S1", 1.0), ("Non-Exempt", 1.0)],
    &[("Intern", 6.0), ("INT", 2.0), ("I0", 1.0), ("Temp", 1.0)],
    &[("Analyst", 5.0), ("P1", 2.0), ("IC1", 2.0), ("A1", 1.0)],
    &[("Associate", 5.0), ("P1", 2.0), ("IC2", 2.0), ("A2", 1.0)],
    &[("IC2", 4.0), ("IC3", 6.0), ("IC4", 5.0), ("IC5", 3.0), ("P3", 3.0), ("P4", 2.0), ("L4", 3.0), ("L5", 2.0), ("Individual Contributor", 4.0), ("IC", 3.0), ("Professional", 2.0), ("individual contributor", 1.0), ("E4", 1.0)],
    &[("M1", 6.0), ("M2", 4.0), ("Manager", 4.0), ("Mgr", 2.0), ("People Manager", 2.0), ("M-1", 1.0), ("manager", 1.0), ("L6", 1.0)],
    &[("M3", 5.0), ("Sr Mgr", 3.0), ("Sr. Manager", 3.0), ("Senior Manager", 2.0), ("M-3", 1.0)],
    &[("D1", 4.0), ("M4", 3.0), ("Director", 5.0), ("DIR", 1.0), ("director", 1.0)],
    &[("D2", 4.0), ("M5", 2.0), ("Sr. Director", 3.0), ("Senior Director", 2.0), ("SD", 1.0)],
    &[("VP", 6.0), ("V1", 2.0), ("E1", 2.0), ("Vice President", 2.0), ("vp", 1.0)],
    &[("SVP", 5.0), ("EVP", 2.0), ("E2", 2.0), ("V2", 1.0)],
    &[("Executive", 3.0), ("C-Suite", 2.0), ("E3", 2.0), ("CXO", 2.0), ("Exec", 1.0)],
];

/// isManager encodings: (truthy, falsy) pairs.
pub const FLAG_STYLES: &[((&str, &str), f64)] = &[(("Y", "N"), 18.0), (("yes", "no"), 12.0), (("Yes", "No"), 12.0), (("YES", "NO"), 4.0), (("TRUE", "FALSE"), 10.0), (("true", "false"), 8.0), (("True", "False"), 4.0), (("1", "0"), 8.0), (("x", ""), 4.0), (("X", ""), 2.0), (("y", "n"), 3.0), (("oui", "non"), 1.0), (("Oui", "Non"), 1.0), (("sí", "no"), 1.0), (("Y ", "N "), 1.0), (("yes.", "no."), 0.5), (("Manager", "IC"), 1.0), (("1.0", "0.0"), 1.0), (("T", "F"), 1.0)];
pub const FLAG_ODDITIES: W = &[("", 50.0), ("n/a", 10.0), ("N/A", 6.0), ("-", 8.0), ("unknown", 4.0), ("?", 2.0), ("TBD", 2.0), (" ", 4.0), ("null", 4.0), ("NULL", 2.0)];
pub const STATUS: W = &[("ACTIVE", 66.0), ("Active", 10.0), ("active", 3.0), ("ACTIVE ", 1.0), (" Active", 0.5), ("inactive", 1.5), ("Inactive", 1.0), ("INACTIVE", 0.5), ("Terminated", 2.0), ("TERMINATED", 0.7), ("terminated", 0.3), ("Suspended", 0.8), ("SUSPENDED", 1.5), ("DEPROVISIONED", 4.0), ("STAGED", 1.2), ("PROVISIONED", 1.5), ("PASSWORD_EXPIRED", 0.6), ("LOCKED_OUT", 0.5), ("RECOVERY", 0.3), ("On Leave", 0.8), ("Leave of Absence", 0.3), ("", 0.5), ("Pending", 0.2)];
pub const ACTIVE_STATUSES: &[&str] = &["active", "provisioned", "password_expired", "locked_out", "recovery", "staged", "on leave", "leave of absence", "pending"];
pub const USER_TYPES: W = &[("Employee", 50.0), ("employee", 4.0), ("EMPLOYEE", 2.0), ("FTE", 5.0), ("Full-Time", 3.0), ("Contractor", 10.0), ("contractor", 2.0), ("Contingent Worker", 3.0), ("Consultant", 1.0), ("Temp", 1.0), ("", 19.0)];
pub const SUITES: &[&str] = &["Suite 400", "Floor 3", "Suite 1200", "2nd Floor", "Building B", "Unit 7", "Level 12", "Bureau 301", "Planta 4", "4층", "5階"];
pub const PLACEHOLDER_TITLES: &[&str] = &["N/A", "-", "TBD", "none", "?", "n/a", "Employee", "Staff", "Contractor", "TEMP"];
pub const ALIAS_DOMAINS: &[&str] = &["acmecorp.com", "acme.fr", "acme.co.kr", "acme.co.jp", "acme.co.uk", "acme-labs.io"];
pub const NICKNAMES: &[&str] = &["Bob", "Bill", "Liz", "Kate", "Mike", "Jim", "Jen", "Chris", "Alex", "Sam", "DJ", "Tina"];
pub const MANGLES: W = &[("upper", 4.0), ("lower", 4.0), ("title", 1.5), ("trail", 4.0), ("lead", 2.0), ("double", 2.0), ("tab", 0.3), ("newline", 0.25), ("nbsp", 0.15), ("quote", 0.15), ("interim", 0.6), ("punct", 0.3), ("empty", 3.0), ("placeholder", 0.8)];
pub const SPANS: &[(usize, f64)] = &[(0, 8.0), (1, 5.0), (2, 8.0), (3, 10.0), (4, 11.0), (5, 11.0), (6, 10.0), (7, 9.0), (8, 8.0), (9, 6.0), (10, 5.0), (12, 3.0), (15, 2.0), (20, 2.0), (30, 1.0), (45, 1.0)];
