-- "¿Cuántos celulares hay en stock?", "Samsung disponibles, del más caro": with these the
-- category or brand filter plus availability (and the price order) are answered from the index
-- alone, instead of reading every row of the category or brand to test its availability.
CREATE INDEX products_category_availability_price ON products (category, availability, price);
CREATE INDEX products_brand_availability_price ON products (brand, availability, price);
-- Fresh statistics, or the planner favours a new index it knows nothing about even where an
-- older one avoids a sort ("laptops by price").
ANALYZE;
