import type { SourceDefinition } from '../definition';

/**
 * Northwind (the classic trading company's OLTP database, ../shared/data/northwind.sql) as a
 * cartflow source: the example docs/pipeline.md walks through. Its tables have no change timestamps,
 * so each run takes them whole (they are small); its schema is nothing like cartflow's, so the
 * mapping does the work. Register it with
 *
 *   cartflow source add sources/examples/northwind.ts --url postgres://…/northwind
 */
const northwind: SourceDefinition = {
  name: 'northwind',
  description: 'Northwind Traders, the sample OLTP database',
  // The URL given to `cartflow source add --url` replaces this one.
  connection: { kind: 'postgres', url: 'postgres://localhost:5432/northwind', schema: 'public' },
  tables: [
    { name: 'customers', primaryKey: ['customer_id'] },
    { name: 'suppliers', primaryKey: ['supplier_id'], columns: ['supplier_id', 'company_name'] },
    // categories.picture is a bitmap nobody needs in a warehouse: take only what the mapping reads.
    { name: 'categories', primaryKey: ['category_id'], columns: ['category_id', 'category_name'] },
    { name: 'products', primaryKey: ['product_id'] },
    { name: 'orders', primaryKey: ['order_id'] },
    { name: 'order_details', primaryKey: ['order_id', 'product_id'] },
  ],
  mapping: {
    // One contact per customer company: its name split at the first space.
    customers: `
      select customer_id,
             company_name,
             split_part(contact_name, ' ', 1) as first_name,
             nullif(substr(contact_name, length(split_part(contact_name, ' ', 1)) + 2), '') as last_name,
             address as address_line, city, region as state, postal_code, country
        from customers`,
    // Northwind has no brands; the supplier is the closest thing.
    products: `
      select p.product_id, p.product_name as name, c.category_name as category, s.company_name as brand,
             p.unit_price as price
        from products p
        left join categories c on c.category_id = p.category_id
        left join suppliers s on s.supplier_id = p.supplier_id`,
    // An order is shipped once it has a shipped date; Northwind's prices are in US dollars.
    orders: `
      select order_id, customer_id,
             case when shipped_date is null then 'placed' else 'shipped' end as status,
             order_date as placed_at, 'USD' as currency
        from orders`,
    // order_details has no id of its own: its key is (order_id, product_id).
    orderLines: `
      select order_id || '-' || product_id as order_line_id, order_id, product_id, quantity, unit_price, discount
        from order_details`,
  },
};

export default northwind;
