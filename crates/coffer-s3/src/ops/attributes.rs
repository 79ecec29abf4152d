//! GetObjectAttributes: a version's ETag, checksum, parts, storage class and size, without its data.

use coffer_engine::{Checksums, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::CofferS3;
use super::multipart::{max_parts, only, part_number_marker};
use super::object::{reported_version, requested_version};
use crate::checksum::{Algorithm, ChecksumKind, set_checksums};
use crate::edge::RenderedBody;
use crate::error::from_engine;
use crate::sse::{customer_key, key_for_read};

/// The attributes a request names in `x-amz-object-attributes`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Wanted {
    etag: bool,
    checksum: bool,
    parts: bool,
    storage_class: bool,
    size: bool,
}

impl Wanted {
    /// The header may repeat, and each value may list several names
    /// separated by commas.
    fn parse(named: &[ObjectAttributes]) -> S3Result<Wanted> {
        let mut wanted = Wanted::default();
        for name in named.iter().flat_map(|value| value.as_str().split(',')).map(str::trim) {
            let flag = match name {
                "" => continue,
                ObjectAttributes::ETAG => &mut wanted.etag,
                ObjectAttributes::CHECKSUM => &mut wanted.checksum,
                ObjectAttributes::OBJECT_PARTS => &mut wanted.parts,
                ObjectAttributes::STORAGE_CLASS => &mut wanted.storage_class,
                ObjectAttributes::OBJECT_SIZE => &mut wanted.size,
                _ => return Err(s3_error!(InvalidArgument, "Invalid attribute name specified.")),
            };
            *flag = true;
        }
        if wanted == Wanted::default() {
            return Err(s3_error!(
                InvalidRequest,
                "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty"
            ));
        }
        Ok(wanted)
    }
}

/// The object's checksum as GetObjectAttributes reports it: a composite
/// checksum without the `-N` part count that HEAD and GET append.
fn whole_checksum(object: &ObjectRecord) -> Option<Checksum> {
    if object.checksums.is_empty() {
        return None;
    }
    let mut checksums: Checksums = object.checksums.clone();
    for value in [
        &mut checksums.crc32,
        &mut checksums.crc32c,
        &mut checksums.crc64nvme,
        &mut checksums.sha1,
        &mut checksums.sha256,
    ]
    .into_iter()
    .flatten()
    {
        // Base64 has no `-`, so the first one starts the part count.
        value.truncate(value.find('-').unwrap_or(value.len()));
    }
    let mut checksum = Checksum::default();
    set_checksums!(checksum, &checksums, with_type);
    Some(checksum)
}

/// The parts of a multipart object; `None` for an object stored by one PUT.
/// As in Amazon S3, only an object with a composite checksum (an upload
/// created with an algorithm other than the default) has its parts listed,
/// a page at a time with their sizes and checksums; of any other, only the
/// number of parts is told.
fn object_parts(
    object: &ObjectRecord,
    max_parts: usize,
    after: u32,
    marker: Option<i32>,
) -> Option<GetObjectAttributesParts> {
    let parts: Vec<_> = object.segments.iter().filter(|s| s.part_number > 0).collect();
    if parts.is_empty() {
        return None;
    }
    let total_parts_count = i32::try_from(parts.len()).ok();
    let composite = object.checksums.checksum_type.as_deref() == Some(ChecksumKind::COMPOSITE);
    let algorithm = Algorithm::of(&object.checksums).filter(|_| composite);
    let Some(algorithm) = algorithm else {
        return Some(GetObjectAttributesParts {
            total_parts_count,
            ..Default::default()
        });
    };
    let mut rest = parts.into_iter().filter(|part| part.part_number > after);
    let page: Vec<_> = rest.by_ref().take(max_parts).collect();
    let truncated = rest.next().is_some();
    let next_part_number_marker = page
        .last()
        .filter(|_| truncated)
        .and_then(|part| i32::try_from(part.part_number).ok());
    let listed = page
        .into_iter()
        .map(|part| {
            let mut listed = ObjectPart {
                part_number: i32::try_from(part.part_number).ok(),
                size: i64::try_from(part.size).ok(),
                ..Default::default()
            };
            set_checksums!(listed, &only(algorithm, &part.checksums));
            listed
        })
        .collect();
    Some(GetObjectAttributesParts {
        is_truncated: Some(truncated),
        max_parts: i32::try_from(max_parts).ok(),
        next_part_number_marker,
        part_number_marker: marker,
        parts: Some(listed),
        total_parts_count,
    })
}

/// The GetObjectAttributesResponse document. s3s writes the ETag in quotes,
/// as everywhere else; Amazon S3 writes it bare in this one document.
fn render(output: &GetObjectAttributesOutput) -> S3Result<RenderedBody> {
    RenderedBody::xml("GetObjectAttributesResponse", 0, |s| {
        if let Some(checksum) = &output.checksum {
            s.content("Checksum", checksum)?;
        }
        if let Some(etag) = &output.e_tag {
            s.content("ETag", etag.value())?;
        }
        if let Some(parts) = &output.object_parts {
            s.content("ObjectParts", parts)?;
        }
        if let Some(size) = &output.object_size {
            s.content("ObjectSize", size)?;
        }
        if let Some(class) = &output.storage_class {
            s.content("StorageClass", class)?;
        }
        Ok(())
    })
}

impl CofferS3 {
    /// Last-Modified and x-amz-version-id come back as headers whatever was
    /// asked; a delete marker answers as a GET of it does.
    pub(super) async fn do_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let bucket = self.target_bucket(&req, &req.input.bucket).await?;
        let input = &req.input;
        let wanted = Wanted::parse(&input.object_attributes)?;
        let max_parts = max_parts(input.max_parts)?;
        let after = part_number_marker(input.part_number_marker)?;
        let object = self
            .engine
            .object(&bucket.name, &input.key, requested_version(input.version_id.as_deref()))
            .await
            .map_err(from_engine)?;
        // An SSE-C object's attributes are as guarded as its bytes.
        let customer = customer_key!(
            input.sse_customer_algorithm,
            input.sse_customer_key,
            input.sse_customer_key_md5
        )?;
        key_for_read(&self.master_key, &object, customer.as_ref())?;
        let storage_class = object
            .storage_class
            .clone()
            .unwrap_or_else(|| StorageClass::STANDARD.to_owned());
        let output = GetObjectAttributesOutput {
            checksum: wanted.checksum.then(|| whole_checksum(&object)).flatten(),
            e_tag: wanted.etag.then(|| ETag::Strong(object.etag.clone())),
            object_parts: wanted
                .parts
                .then(|| object_parts(&object, max_parts, after, input.part_number_marker))
                .flatten(),
            object_size: wanted.size.then(|| i64::try_from(object.size).ok()).flatten(),
            storage_class: wanted.storage_class.then(|| StorageClass::from(storage_class)),
            last_modified: Some(object.last_modified.into()),
            version_id: reported_version(&bucket, &object),
            ..Default::default()
        };
        Ok(render(&output)?.respond(output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_may_be_listed_in_one_header() {
        let named = [
            ObjectAttributes::from("ETag, ObjectSize".to_owned()),
            ObjectAttributes::from_static(ObjectAttributes::CHECKSUM),
        ];
        let wanted = Wanted::parse(&named).unwrap();
        assert!(wanted.etag && wanted.size && wanted.checksum);
        assert!(!wanted.parts && !wanted.storage_class);
    }

    #[test]
    fn unknown_or_no_attribute_names_are_refused() {
        let unknown = [ObjectAttributes::from("ETag,Colour".to_owned())];
        assert_eq!(Wanted::parse(&unknown).unwrap_err().code().as_str(), "InvalidArgument");
        let empty = [ObjectAttributes::from(String::new())];
        assert_eq!(Wanted::parse(&empty).unwrap_err().code().as_str(), "InvalidRequest");
    }
}
