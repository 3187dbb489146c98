import { DAY_MS, type SimulationPeriod } from './calendar';
import { DIRT_RATES } from './dirt';
import { Random, WeightedTable, shuffledIndices, zipfWeights } from './random';
import type { ProductRow } from './rows';

/** What the shop sells: REES46-style category codes, each with its brands, product nouns and price level. */
interface CategorySpec {
  code: string;
  /** Share of the catalogue (and of the shoppers whose favourite it is). */
  weight: number;
  medianPriceEuros: number;
  /** Spread of log(price) within the category. */
  priceSpread: number;
  brands: readonly string[];
  nouns: readonly string[];
}

export const CATEGORIES: readonly CategorySpec[] = [
  {
    code: 'electronics.smartphone',
    weight: 8,
    medianPriceEuros: 380,
    priceSpread: 0.5,
    brands: ['samsung', 'apple', 'xiaomi', 'oppo', 'motorola'],
    nouns: ['Smartphone', 'Phone'],
  },
  {
    code: 'electronics.audio.headphone',
    weight: 8,
    medianPriceEuros: 70,
    priceSpread: 0.7,
    brands: ['sony', 'jbl', 'sennheiser', 'bose', 'apple'],
    nouns: ['Headphones', 'Earbuds'],
  },
  {
    code: 'electronics.video.tv',
    weight: 4,
    medianPriceEuros: 600,
    priceSpread: 0.5,
    brands: ['samsung', 'lg', 'sony', 'philips', 'tcl'],
    nouns: ['Smart TV', 'OLED TV'],
  },
  {
    code: 'computers.notebook',
    weight: 5,
    medianPriceEuros: 850,
    priceSpread: 0.4,
    brands: ['lenovo', 'hp', 'asus', 'acer', 'apple', 'dell'],
    nouns: ['Notebook', 'Laptop'],
  },
  {
    code: 'computers.peripherals.mouse',
    weight: 5,
    medianPriceEuros: 30,
    priceSpread: 0.6,
    brands: ['logitech', 'razer', 'microsoft', 'hp'],
    nouns: ['Mouse', 'Keyboard'],
  },
  {
    code: 'appliances.kitchen.coffee_machine',
    weight: 5,
    medianPriceEuros: 180,
    priceSpread: 0.6,
    brands: ['delonghi', 'philips', 'krups', 'siemens'],
    nouns: ['Coffee Machine', 'Espresso Maker'],
  },
  {
    code: 'appliances.environment.vacuum',
    weight: 5,
    medianPriceEuros: 160,
    priceSpread: 0.6,
    brands: ['dyson', 'bosch', 'rowenta', 'philips', 'xiaomi'],
    nouns: ['Vacuum Cleaner', 'Robot Vacuum'],
  },
  {
    code: 'apparel.shoes',
    weight: 12,
    medianPriceEuros: 85,
    priceSpread: 0.4,
    brands: ['nike', 'adidas', 'puma', 'asics', 'new balance'],
    nouns: ['Sneakers', 'Running Shoes', 'Boots'],
  },
  {
    code: 'apparel.jacket',
    weight: 8,
    medianPriceEuros: 120,
    priceSpread: 0.5,
    brands: ['the north face', 'columbia', 'jack wolfskin', 'patagonia'],
    nouns: ['Jacket', 'Parka', 'Fleece'],
  },
  {
    code: 'apparel.tshirt',
    weight: 10,
    medianPriceEuros: 25,
    priceSpread: 0.4,
    brands: ['levis', 'tommy hilfiger', 'lacoste', 'uniqlo'],
    nouns: ['T-Shirt', 'Polo Shirt'],
  },
  {
    code: 'beauty.fragrance',
    weight: 7,
    medianPriceEuros: 60,
    priceSpread: 0.5,
    brands: ['chanel', 'dior', 'hugo boss', 'calvin klein', 'davidoff'],
    nouns: ['Eau de Parfum', 'Eau de Toilette'],
  },
  {
    code: 'beauty.skin_care',
    weight: 7,
    medianPriceEuros: 18,
    priceSpread: 0.6,
    brands: ['nivea', 'loreal', 'la roche-posay', 'clinique'],
    nouns: ['Face Cream', 'Serum', 'Cleanser'],
  },
  {
    code: 'kids.toys',
    weight: 8,
    medianPriceEuros: 30,
    priceSpread: 0.8,
    brands: ['lego', 'playmobil', 'hasbro', 'mattel', 'ravensburger'],
    nouns: ['Building Set', 'Board Game', 'Puzzle'],
  },
  {
    code: 'sport.fitness',
    weight: 4,
    medianPriceEuros: 45,
    priceSpread: 0.8,
    brands: ['decathlon', 'kettler', 'garmin', 'polar'],
    nouns: ['Yoga Mat', 'Dumbbell Set', 'Fitness Tracker'],
  },
  {
    code: 'furniture.living_room.chair',
    weight: 4,
    medianPriceEuros: 140,
    priceSpread: 0.6,
    brands: ['ikea', 'hay', 'vitra', 'kave home'],
    nouns: ['Chair', 'Armchair', 'Stool'],
  },
];

/** How steeply popularity falls with rank: 1/rank^1.1 gives the long tail web shops see. */
export const POPULARITY_EXPONENT = 1.1;
/** Products in the catalogue per customer, and the smallest catalogue. */
export const PRODUCTS_PER_CUSTOMER = 0.1;
export const MIN_PRODUCTS = 50;
/** Share of the catalogue launched during the simulated period rather than before it. */
const LAUNCHED_DURING_PERIOD = 0.2;
/** The most popular products are established bestsellers: all of them exist before the period starts. */
const ESTABLISHED_BESTSELLERS = 0.05;
/** How many times a product's price changes during the period: none, once, twice or three times. */
const PRICE_CHANGE_COUNT_WEIGHTS = new WeightedTable([50, 30, 15, 5]);
/** When a shopper browses their favourite category rather than the whole shop. */
const FAVOURITE_CATEGORY_SHARE = 0.55;

const CATEGORY_TABLE = new WeightedTable(CATEGORIES.map((category) => category.weight));

export function productCountFor(customers: number): number {
  return Math.max(MIN_PRODUCTS, Math.round(customers * PRODUCTS_PER_CUSTOMER));
}

export function sampleCategory(random: Random): number {
  return CATEGORY_TABLE.sample(random);
}

/**
 * The catalogue as the simulation needs it while it runs: per product its category, launch time,
 * popularity and price history, in typed arrays (a few dozen bytes per product). The product rows
 * themselves (names, SKUs, brands) are generated only when the products table is written.
 */
export class Catalog {
  readonly categoryOf: Uint8Array;
  readonly launchedAt: Float64Array;
  readonly popularity: Float64Array;
  /** 0 for the most popular product. */
  readonly popularityRank: Int32Array;
  private readonly basePriceCents: Int32Array;
  /** Price changes of product i are entries changeOffsets[i] .. changeOffsets[i + 1] - 1, in time order. */
  private readonly changeOffsets: Int32Array;
  private readonly changeAt: Float64Array;
  private readonly changePriceCents: Int32Array;
  private readonly everyProduct: WeightedTable;
  private readonly byCategory: { products: Int32Array; table: WeightedTable }[];
  private readonly fallbackProduct: number;

  constructor(
    readonly seed: number,
    readonly count: number,
    readonly period: SimulationPeriod,
  ) {
    this.categoryOf = new Uint8Array(count);
    this.launchedAt = new Float64Array(count);
    this.basePriceCents = new Int32Array(count);
    // Zipf weights handed out in a random order, so product ids say nothing about popularity.
    this.popularityRank = shuffledIndices(Random.derive(seed, 'popularity'), count);
    const weights = zipfWeights(count, POPULARITY_EXPONENT);
    this.popularity = Float64Array.from(this.popularityRank, (rank) => weights[rank]);
    const changes: { at: number; priceCents: number }[][] = [];
    for (let index = 0; index < count; index++) {
      const random = Random.derive(seed, 'product', index + 1);
      const category = sampleCategory(random);
      const established = this.popularityRank[index] < Math.max(1, count * ESTABLISHED_BESTSELLERS);
      this.categoryOf[index] = category;
      this.launchedAt[index] = launchTime(random, period, established);
      this.basePriceCents[index] = initialPriceCents(random, CATEGORIES[category]);
      changes.push(priceChanges(random, period, this.launchedAt[index], this.basePriceCents[index]));
    }
    this.changeOffsets = new Int32Array(count + 1);
    changes.forEach(
      (list, index) => (this.changeOffsets[index + 1] = this.changeOffsets[index] + list.length),
    );
    this.changeAt = Float64Array.from(changes.flat(), (change) => change.at);
    this.changePriceCents = Int32Array.from(changes.flat(), (change) => change.priceCents);
    this.everyProduct = new WeightedTable(this.popularity);
    this.byCategory = CATEGORIES.map((_, category) => {
      const products = Int32Array.from({ length: count }, (_, i) => i).filter(
        (i) => this.categoryOf[i] === category,
      );
      return {
        products,
        table: new WeightedTable(products.length > 0 ? Array.from(products, (i) => this.popularity[i]) : [1]),
      };
    });
    this.fallbackProduct = this.popularityRank.indexOf(0);
  }

  /** The product's price at that moment, in cents: prices change a few times a year. */
  priceAt(index: number, ms: number): number {
    let price = this.basePriceCents[index];
    for (
      let k = this.changeOffsets[index];
      k < this.changeOffsets[index + 1] && this.changeAt[k] <= ms;
      k++
    ) {
      price = this.changePriceCents[k];
    }
    return price;
  }

  /** When the product row last changed: its last price change before the period's end, or its launch. */
  lastChangedAt(index: number): number {
    let last = this.launchedAt[index];
    for (let k = this.changeOffsets[index]; k < this.changeOffsets[index + 1]; k++) {
      if (this.changeAt[k] < this.period.endMs) last = this.changeAt[k];
    }
    return last;
  }

  /**
   * A product a shopper looks at, at time `ms`: by popularity, often from one category (their
   * favourite, or the one they are browsing), and never one that is not on sale yet.
   */
  pick(random: Random, preferredCategory: number, ms: number): number {
    const inCategory = preferredCategory >= 0 && this.byCategory[preferredCategory].products.length > 0;
    const useCategory = inCategory && random.chance(FAVOURITE_CATEGORY_SHARE);
    for (let attempt = 0; attempt < 8; attempt++) {
      const index = useCategory
        ? this.byCategory[preferredCategory].products[this.byCategory[preferredCategory].table.sample(random)]
        : this.everyProduct.sample(random);
      if (this.launchedAt[index] <= ms) return index;
    }
    return this.fallbackProduct; // the top bestseller, on sale since before the period
  }
}

function launchTime(random: Random, period: SimulationPeriod, established: boolean): number {
  if (!established && random.chance(LAUNCHED_DURING_PERIOD))
    return Math.floor(random.between(period.startMs, period.endMs));
  return Math.floor(period.startMs - DAY_MS - random.exponential(400 * DAY_MS));
}

/** A shelf price ending in .99 (or .49 / .99 under ten euros), as shops price things. */
function shelfPriceCents(euros: number): number {
  if (euros < 10) return Math.max(99, Math.round(euros * 2) * 50 - 1);
  return Math.round(euros) * 100 - 1;
}

function initialPriceCents(random: Random, category: CategorySpec): number {
  return shelfPriceCents(random.logNormal(category.medianPriceEuros, category.priceSpread));
}

/** A few price moves of up to ±15 % each, at random moments between launch and the period's end. */
function priceChanges(random: Random, period: SimulationPeriod, launchedAt: number, basePriceCents: number) {
  const count = PRICE_CHANGE_COUNT_WEIGHTS.sample(random);
  const from = Math.max(launchedAt, period.startMs);
  const times = Array.from({ length: count }, () => Math.floor(random.between(from, period.endMs))).sort(
    (a, b) => a - b,
  );
  let priceCents = basePriceCents;
  return times.map((at) => {
    priceCents = shelfPriceCents((priceCents / 100) * random.between(0.85, 1.15));
    return { at, priceCents };
  });
}

const ADJECTIVES = [
  'Classic',
  'Pro',
  'Air',
  'Ultra',
  'Essential',
  'Max',
  'Lite',
  'Plus',
  'Sport',
  'Studio',
  'Eco',
  'Prime',
];

function titleCase(text: string): string {
  return text.replace(
    /(^|[\s-])(\p{L})/gu,
    (_, before: string, letter: string) => before + letter.toUpperCase(),
  );
}

/** The products table, one row at a time: names, SKUs, brands and stock come from each product's own stream. */
export function* productRows(catalog: Catalog): Generator<ProductRow> {
  for (let index = 0; index < catalog.count; index++) {
    const productId = index + 1;
    const random = Random.derive(catalog.seed, 'product-details', productId);
    const category = CATEGORIES[catalog.categoryOf[index]];
    const brand = random.pick(category.brands);
    const name = `${titleCase(brand)} ${random.pick(ADJECTIVES)} ${random.pick(category.nouns)} ${random.pick(['X', 'S', 'M', 'Z'])}${random.int(1, 99) * 10}`;
    const brandMissing = random.chance(DIRT_RATES.productBrandMissing);
    yield {
      productId,
      sku: `CF-${String(productId).padStart(6, '0')}`,
      name,
      category: category.code,
      brand: brandMissing ? null : brand,
      priceCents: catalog.priceAt(index, catalog.period.endMs - 1),
      stock: random.chance(0.05) ? 0 : Math.round(random.logNormal(40, 1)),
      createdAt: catalog.launchedAt[index],
      updatedAt: catalog.lastChangedAt(index),
    };
  }
}
