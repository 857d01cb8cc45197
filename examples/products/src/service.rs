//! [`Products`]: the handlers, free of error handling: `?` hands the
//! repository's errors to the server's error advice.

use grpcx::{Response, ServerRequest, Status};

use crate::pb::{CreateProductRequest, GetProductRequest, Product, ProductService};
use crate::repository::ProductRepository;

/// The product service: an implementation of the generated
/// [`ProductService`] trait over an in-memory catalog holding `p-1` and
/// `p-2`.
#[derive(Debug)]
pub struct Products {
    repository: ProductRepository,
}

impl Default for Products {
    fn default() -> Self {
        Products {
            repository: ProductRepository::new(),
        }
    }
}

impl ProductService for Products {
    async fn get_product(
        &self,
        request: ServerRequest<GetProductRequest>,
    ) -> Result<Response<Product>, Status> {
        let product = self.repository.get(&request.get_ref().product_id)?;
        Ok(Response::new(product))
    }

    async fn create_product(
        &self,
        request: ServerRequest<CreateProductRequest>,
    ) -> Result<Response<Product>, Status> {
        let CreateProductRequest {
            name,
            description,
            price_cents,
        } = request.into_inner();
        let product = self.repository.create(&name, &description, price_cents)?;
        Ok(Response::new(product))
    }
}
