//! The product repository: an in-memory catalog that speaks
//! [`ProductError`], never `Status`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::UNAVAILABLE_PRODUCT_ID;
use crate::error::{BackendError, ProductError, Violations};
use crate::pb::Product;

/// The longest product name.
const MAX_NAME_CHARS: usize = 100;

/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 1000;

/// The catalog.
#[derive(Debug)]
pub(crate) struct ProductRepository {
    products: Mutex<Catalog>,
}

#[derive(Debug, Default)]
struct Catalog {
    by_id: BTreeMap<String, Product>,
    last_id: u64,
}

impl ProductRepository {
    /// A catalog with two products, `p-1` and `p-2`.
    pub(crate) fn new() -> ProductRepository {
        let mut catalog = Catalog::default();
        catalog.insert("Espresso machine", "15 bar, steam wand", 24_900);
        catalog.insert("Burr grinder", "40 mm conical burrs", 8_900);
        ProductRepository {
            products: Mutex::new(catalog),
        }
    }

    /// The product with `id`.
    pub(crate) fn get(&self, id: &str) -> Result<Product, ProductError> {
        if id.is_empty() {
            let mut violations = Violations::default();
            violations.add("product_id", "is required");
            violations.check()?;
        }
        if id == UNAVAILABLE_PRODUCT_ID {
            // What a real backend outage looks like from here: an error
            // whose text is for the server's logs only.
            let cause = BackendError(format!(
                "SELECT * FROM products WHERE id = '{id}': connection to inventory-db.internal:5432 timed out"
            ));
            tracing::error!(error = %cause, "the catalog backend failed");
            return Err(ProductError::Unavailable(cause));
        }
        self.lock()
            .by_id
            .get(id)
            .cloned()
            .ok_or_else(|| ProductError::NotFound {
                id: id.to_owned(),
                metadata: HashMap::from([("productId".to_owned(), id.to_owned())]),
            })
    }

    /// Adds a product, after checking every field.
    pub(crate) fn create(
        &self,
        name: &str,
        description: &str,
        price_cents: i64,
    ) -> Result<Product, ProductError> {
        let mut violations = Violations::default();
        if name.trim().is_empty() {
            violations.add("name", "is required");
        } else if name.chars().count() > MAX_NAME_CHARS {
            violations.add(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            violations.add(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            );
        }
        if price_cents <= 0 {
            violations.add(
                "price_cents",
                format!("must be positive, not {price_cents}"),
            );
        }
        violations.check()?;
        Ok(self.lock().insert(name, description, price_cents))
    }

    /// Locks the catalog. Every update is one insertion, which cannot
    /// leave it half-done, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Catalog> {
        self.products.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Catalog {
    fn insert(&mut self, name: &str, description: &str, price_cents: i64) -> Product {
        self.last_id += 1;
        let product = Product {
            id: format!("p-{}", self.last_id),
            name: name.to_owned(),
            description: description.to_owned(),
            price_cents,
        };
        self.by_id.insert(product.id.clone(), product.clone());
        product
    }
}
