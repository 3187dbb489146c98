import { DAY_MS, seasonality, timeOfDayAtFraction, type SimulationPeriod } from './calendar';
import { sampleCategory } from './catalog';
import { DIRT_RATES } from './dirt';
import { Random, WeightedTable } from './random';
import type { CustomerRow } from './rows';

/** Share of customers who signed up before the simulated period began (over the two years before it). */
export const SIGNED_UP_BEFORE_PERIOD = 0.25;
const PRE_PERIOD_DAYS = 730;
/** Signups grow over the period: the last day sees this many times the first day's signups (before seasonality). */
const SIGNUP_GROWTH = 1.6;
/** Shoppers who come once, buy or not, and never return: their activity lasts a couple of days. */
const ONE_TIME_SHOPPER_SHARE = 0.3;
const ONE_TIME_ACTIVITY_MEAN_DAYS = 2;
/** Everyone else stays active for an exponential lifetime with this mean, then churns. */
const ACTIVITY_LIFETIME_MEAN_DAYS = 270;
/** Some churned customers come back for a while later: the "regained" customers of the growth mart. */
const COMEBACK_SHARE = 0.15;
const COMEBACK_GAP_MEAN_DAYS = 150;
const COMEBACK_ACTIVITY_MEAN_DAYS = 60;
/** Sessions per ordinary day while active: log-normal, so a few regulars visit every other day. */
const SESSION_RATE_MEDIAN = 0.05;
const SESSION_RATE_SPREAD = 0.8;
const SESSION_RATE_CAP = 0.8;
/** How much more (or less) likely than average this customer is to buy what they look at. */
const BUY_PROPENSITY_SPREAD = 0.45;
/** Marketing consent, asked at signup. */
const MARKETING_CONSENT_SHARE = 0.6;
/** Customers who changed their profile (address, consent) after signing up: their updated_at moves. */
const PROFILE_UPDATED_SHARE = 0.25;
/** Gender is optional on the signup form; this share leaves it empty. Not dirt: the form allows it. */
const GENDER_NOT_GIVEN = 0.08;

/**
 * Who the customers are and how they behave, in typed arrays indexed by customer (id - 1): what
 * the day-by-day simulation needs to decide who visits when. Customer ids grow with signup time, as
 * a database sequence would hand them out.
 */
export class Population {
  readonly signupAt: Float64Array;
  /** The end of the first activity window (which starts at signup). */
  readonly activeUntil: Float64Array;
  /** A second activity window for customers who come back after churning; NaN when they never do. */
  readonly returnsAt: Float64Array;
  readonly returnedUntil: Float64Array;
  readonly sessionRate: Float32Array;
  readonly buyPropensity: Float32Array;
  readonly favouriteCategory: Uint8Array;

  constructor(
    readonly seed: number,
    readonly count: number,
    readonly period: SimulationPeriod,
  ) {
    this.signupAt = new Float64Array(count);
    this.activeUntil = new Float64Array(count);
    this.returnsAt = new Float64Array(count).fill(NaN);
    this.returnedUntil = new Float64Array(count).fill(NaN);
    this.sessionRate = new Float32Array(count);
    this.buyPropensity = new Float32Array(count);
    this.favouriteCategory = new Uint8Array(count);
    const signups = signupDistribution(period);
    for (let index = 0; index < count; index++) {
      const random = Random.derive(seed, 'customer', index + 1);
      // Stratified: customer i's signup lies in the i-th of `count` equal slices of the distribution,
      // so signup times grow with the id and still follow the distribution.
      this.signupAt[index] = signups.timeAt((index + random.float()) / count);
      this.describeBehaviour(index, random);
    }
  }

  private describeBehaviour(index: number, random: Random): void {
    const oneTime = random.chance(ONE_TIME_SHOPPER_SHARE);
    const lifetime = random.exponential(
      (oneTime ? ONE_TIME_ACTIVITY_MEAN_DAYS : ACTIVITY_LIFETIME_MEAN_DAYS) * DAY_MS,
    );
    this.activeUntil[index] = this.signupAt[index] + lifetime;
    if (random.chance(COMEBACK_SHARE)) {
      this.returnsAt[index] =
        this.activeUntil[index] + random.exponential(COMEBACK_GAP_MEAN_DAYS * DAY_MS) + 14 * DAY_MS;
      this.returnedUntil[index] =
        this.returnsAt[index] + random.exponential(COMEBACK_ACTIVITY_MEAN_DAYS * DAY_MS);
    }
    this.sessionRate[index] = Math.min(
      SESSION_RATE_CAP,
      random.logNormal(SESSION_RATE_MEDIAN, SESSION_RATE_SPREAD),
    );
    this.buyPropensity[index] = Math.min(3, random.logNormal(1, BUY_PROPENSITY_SPREAD));
    this.favouriteCategory[index] = sampleCategory(random);
  }

  /** True when the customer is active at some point of [from, to). */
  isActiveBetween(index: number, from: number, to: number): boolean {
    if (this.signupAt[index] < to && this.activeUntil[index] > from) return true;
    return this.returnsAt[index] < to && this.returnedUntil[index] > from; // false for NaN
  }
}

/** Signups per day: a flat trickle over the two years before the period, then growth and seasonality. */
function signupDistribution(period: SimulationPeriod) {
  const firstDay = period.startMs - PRE_PERIOD_DAYS * DAY_MS;
  const inPeriod = Array.from(
    { length: period.days },
    (_, day) => (1 + ((SIGNUP_GROWTH - 1) * day) / period.days) * seasonality(period.startMs + day * DAY_MS),
  );
  const inPeriodTotal = inPeriod.reduce((sum, weight) => sum + weight, 0);
  const preDayWeight =
    (inPeriodTotal * SIGNED_UP_BEFORE_PERIOD) / (1 - SIGNED_UP_BEFORE_PERIOD) / PRE_PERIOD_DAYS;
  const table = new WeightedTable([...new Array<number>(PRE_PERIOD_DAYS).fill(preDayWeight), ...inPeriod]);
  return {
    timeAt(fraction: number): number {
      const position = table.position(fraction);
      const day = Math.floor(position);
      return firstDay + day * DAY_MS + timeOfDayAtFraction(position - day);
    },
  };
}

interface Country {
  code: string;
  weight: number;
  postalDigits: number;
  cities: readonly (readonly [city: string, state: string])[];
  streets: readonly string[];
}

const COUNTRIES: readonly Country[] = [
  {
    code: 'DE',
    weight: 35,
    postalDigits: 5,
    cities: [
      ['Berlin', 'Berlin'],
      ['Hamburg', 'Hamburg'],
      ['München', 'Bayern'],
      ['Köln', 'Nordrhein-Westfalen'],
      ['Frankfurt am Main', 'Hessen'],
      ['Stuttgart', 'Baden-Württemberg'],
      ['Leipzig', 'Sachsen'],
      ['Dresden', 'Sachsen'],
    ],
    streets: ['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Lindenallee', 'Schillerstraße'],
  },
  {
    code: 'FR',
    weight: 18,
    postalDigits: 5,
    cities: [
      ['Paris', 'Île-de-France'],
      ['Lyon', 'Auvergne-Rhône-Alpes'],
      ['Marseille', "Provence-Alpes-Côte d'Azur"],
      ['Toulouse', 'Occitanie'],
      ['Lille', 'Hauts-de-France'],
      ['Bordeaux', 'Nouvelle-Aquitaine'],
    ],
    streets: ['Rue de la Paix', 'Avenue Victor Hugo', 'Rue du Moulin', 'Boulevard Voltaire'],
  },
  {
    code: 'NL',
    weight: 10,
    postalDigits: 4,
    cities: [
      ['Amsterdam', 'Noord-Holland'],
      ['Rotterdam', 'Zuid-Holland'],
      ['Utrecht', 'Utrecht'],
      ['Eindhoven', 'Noord-Brabant'],
    ],
    streets: ['Kerkstraat', 'Dorpsstraat', 'Molenweg', 'Stationsplein'],
  },
  {
    code: 'AT',
    weight: 8,
    postalDigits: 4,
    cities: [
      ['Wien', 'Wien'],
      ['Graz', 'Steiermark'],
      ['Linz', 'Oberösterreich'],
      ['Salzburg', 'Salzburg'],
    ],
    streets: ['Hauptplatz', 'Ringstraße', 'Kirchengasse', 'Mariahilfer Straße'],
  },
  {
    code: 'ES',
    weight: 10,
    postalDigits: 5,
    cities: [
      ['Madrid', 'Madrid'],
      ['Barcelona', 'Cataluña'],
      ['Valencia', 'Comunidad Valenciana'],
      ['Sevilla', 'Andalucía'],
    ],
    streets: ['Calle Mayor', 'Gran Vía', 'Calle del Sol', 'Avenida de la Constitución'],
  },
  {
    code: 'IT',
    weight: 12,
    postalDigits: 5,
    cities: [
      ['Roma', 'Lazio'],
      ['Milano', 'Lombardia'],
      ['Napoli', 'Campania'],
      ['Torino', 'Piemonte'],
      ['Bologna', 'Emilia-Romagna'],
    ],
    streets: ['Via Roma', 'Via Garibaldi', 'Corso Italia', 'Via Dante'],
  },
  {
    code: 'BE',
    weight: 7,
    postalDigits: 4,
    cities: [
      ['Bruxelles', 'Bruxelles-Capitale'],
      ['Antwerpen', 'Vlaanderen'],
      ['Gent', 'Vlaanderen'],
      ['Liège', 'Wallonie'],
    ],
    streets: ['Grote Markt', 'Rue Neuve', 'Kerkstraat', 'Avenue Louise'],
  },
];
const COUNTRY_TABLE = new WeightedTable(COUNTRIES.map((country) => country.weight));

const FEMALE_NAMES = [
  'Anna',
  'Marie',
  'Sophie',
  'Emma',
  'Laura',
  'Julia',
  'Léa',
  'Chloé',
  'Giulia',
  'Sofia',
  'Lucía',
  'Sara',
  'Eva',
  'Lena',
  'Fenna',
  'Camille',
  'Hannah',
  'Mia',
  'Nora',
  'Inès',
];
const MALE_NAMES = [
  'Lukas',
  'Jonas',
  'Leon',
  'Paul',
  'Felix',
  'Lucas',
  'Hugo',
  'Louis',
  'Marco',
  'Luca',
  'Mateo',
  'Daniel',
  'Pablo',
  'Sem',
  'Daan',
  'Noah',
  'Elias',
  'Tobias',
  'Matteo',
  'Jan',
];
const LAST_NAMES = [
  'Müller',
  'Schmidt',
  'Schneider',
  'Fischer',
  'Weber',
  'Martin',
  'Bernard',
  'Dubois',
  'Lefèvre',
  'de Jong',
  'Jansen',
  'de Vries',
  'Rossi',
  'Russo',
  'Ferrari',
  'García',
  'Martínez',
  'López',
  'Peeters',
  'Janssens',
  'Gruber',
  'Huber',
  'Wagner',
  'Becker',
  'Hoffmann',
  'Moreau',
  'Bianchi',
  'Fernández',
  'Bakker',
  'Maes',
];
/** Reserved example domains only: the abandoned-cart e-mails must never reach a real mailbox. */
const EMAIL_DOMAINS = ['example.com', 'example.net', 'example.org', 'mail.example.com'];

/** Lower-case ASCII for the e-mail's local part: "Lefèvre" becomes "lefevre", "de Jong" "dejong". */
function emailPart(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[^A-Za-z]/g, '')
    .toLowerCase();
}

function postalCode(random: Random, digits: number): string {
  return String(random.int(10 ** (digits - 1), 10 ** digits - 1));
}

/** The customers table, one row at a time, each from the customer's own stream. */
export function* customerRows(population: Population): Generator<CustomerRow> {
  const endYear = new Date(population.period.endMs - 1).getUTCFullYear();
  for (let index = 0; index < population.count; index++) {
    const customerId = index + 1;
    const random = Random.derive(population.seed, 'customer-details', customerId);
    const female = random.chance(0.52);
    const firstName = random.pick(female ? FEMALE_NAMES : MALE_NAMES);
    const lastName = random.pick(LAST_NAMES);
    const country = COUNTRIES[COUNTRY_TABLE.sample(random)];
    const [city, state] = random.pick(country.cities);
    const genderGiven = !random.chance(GENDER_NOT_GIVEN);
    const age = Math.round(Math.min(85, Math.max(18, 38 + 12 * random.normal())));
    const signupAt = population.signupAt[index];
    const profileUpdatedAt = random.chance(PROFILE_UPDATED_SHARE)
      ? signupAt + random.exponential(120 * DAY_MS)
      : signupAt;
    const emailMissing = random.chance(DIRT_RATES.customerEmailMissing);
    const cityMissing = random.chance(DIRT_RATES.customerCityMissing);
    yield {
      customerId,
      firstName,
      lastName,
      email: emailMissing
        ? null
        : `${emailPart(firstName)}.${emailPart(lastName)}${customerId}@${random.pick(EMAIL_DOMAINS)}`,
      marketingConsent: random.chance(MARKETING_CONSENT_SHARE),
      addressLine: `${random.pick(country.streets)} ${random.int(1, 180)}`,
      city: cityMissing ? null : city,
      state,
      postalCode: postalCode(random, country.postalDigits),
      country: country.code,
      birthYear: endYear - age,
      gender: genderGiven ? (random.chance(0.015) ? 'diverse' : female ? 'female' : 'male') : null,
      signupAt,
      createdAt: signupAt,
      // A profile change after the period's end has not happened yet.
      updatedAt: profileUpdatedAt < population.period.endMs ? Math.floor(profileUpdatedAt) : signupAt,
    };
  }
}
