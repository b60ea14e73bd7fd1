Pedro compra um livro novo?
O médico não vê o mar amanhã.
De manhã, o médico bebe água.
Os meus amigos estão ocupados amanhã.
As vizinhas leem as notícias na biblioteca.
Os meus pais comem sopa em casa.
Os meus amigos estão cansados.
As vizinhas visitam a minha avó?
Nós procuramos um apartamento hoje.
As crianças comem peixe.
De manhã, o meu irmão lê as notícias.
Nós lemos as notícias?
Os meus amigos estão doentes de manhã.
As crianças abrem a loja.
Pedro procura um apartamento no parque hoje.
Hoje, os meus pais escrevem a lista de compras.
A minha irmã bebe água agora.
De manhã, Pedro abre a porta.
A professora está ocupada aos domingos.
Esta noite, nós vemos a televisão.
Ana lê as notícias?
Os meus pais não procuram um apartamento.
O meu irmão está ocupado.
Ana está preocupada hoje.
As vizinhas estão contentes.
Hoje, os meus amigos cozinham legumes.
Os meus pais comem sopa.
O meu irmão compra leite no mercado aos domingos.
Eu visito o museu de manhã.
O médico lê um romance no trem.
Os meus amigos veem um filme aos domingos.
Ana vê a televisão no cinema hoje.
A minha irmã está contente.
As crianças veem a televisão em casa de manhã.
O médico visita a cidade?
Os meus pais não escrevem um e-mail hoje.
O meu irmão não procura as chaves amanhã.
Nós procuramos trabalho esta noite.
A minha irmã escreve a lista de compras?
O meu irmão está cansado esta noite.
A professora não come pão com queijo.
As crianças precisam de ajuda?
As vizinhas não cozinham massa esta noite.
Nós lemos as notícias.
Os meus amigos cozinham o jantar?
O médico não vê um filme agora.
Os meus amigos não visitam o museu amanhã.
Pedro visita a cidade?
A professora compra um presente esta noite.
De manhã, o meu irmão come arroz.
Hoje, o médico escreve um e-mail.
Pedro não visita o museu.
O meu irmão escreve um e-mail?
Os meus pais estão doentes.
Eu compro pão na loja da esquina todos os dias.
Eu cozinho legumes em casa?
Amanhã, Ana abre a janela.
O médico não compra fruta.
Ana não lê as notícias hoje.
A minha irmã bebe leite quente no bar amanhã.
Nós comemos arroz em casa todos os dias.
Ana não escreve a lista de compras.
Agora, nós vemos o mar.
Ana está cansada.
Pedro está cansado.
A minha irmã está contente aos domingos.
Os meus pais estão cansados.
As vizinhas comem arroz na cozinha.
O médico cozinha o jantar em casa?
As vizinhas compram leite no mercado.
A professora não visita o museu agora.
A minha irmã lê um romance no trem amanhã.
As crianças veem um filme aos domingos.
Nós visitamos a cidade?
Nós visitamos a minha avó?
Os meus amigos cozinham o jantar em casa?
Eu estou pronto.
A minha irmã precisa de mais tempo agora.
O meu irmão não abre a janela.
O médico compra flores para a festa no mercado agora.
De manhã, Ana abre a porta.
Agora, as crianças leem as cartas.
Todos os dias, o meu irmão precisa de dinheiro.
Agora, as crianças precisam de um carro.
Pedro está pronto agora.
Eu visito o museu?
O médico está pronto todos os dias.
O médico escreve a lista de compras em casa.
Esta noite, a minha irmã come uma maçã.
Eu estou cansado.
As crianças leem um romance.
Nós precisamos de um carro.
A minha irmã não compra pão amanhã.
Todos os dias, o meu irmão abre a loja.
Nós lemos o jornal.
Esta noite, Ana visita o museu.
O médico está contente aos domingos.
As vizinhas estão ocupadas hoje.
Aos domingos, a professora compra flores para a festa.
A professora não vê o mar hoje.
Eu vejo o mar?
Os meus pais cozinham legumes?
Os meus pais abrem a loja de manhã.
O meu irmão bebe suco de laranja.
O meu irmão precisa de ajuda.
As vizinhas estão cansadas aos domingos.
Eu estou preocupado todos os dias.
O meu irmão está doente.
Eu não procuro trabalho.
A professora está doente.
A professora compra fruta?
Eu não cozinho o jantar amanhã.
Nós não procuramos trabalho.
Ana procura o gato?
Os meus amigos visitam a cidade.
O meu irmão abre a loja?
Pedro bebe café.
A minha irmã escreve um poema no escritório de manhã.
O meu irmão lê um romance em casa.
As crianças precisam de mais tempo?
Esta noite, o meu irmão come pão com queijo.
Os meus amigos não compram flores para a festa.
As vizinhas não procuram o gato.
Nós lemos um romance.
Aos domingos, as vizinhas bebem suco de laranja.
Pedro precisa de dinheiro.
Os meus amigos não bebem chá verde.
Hoje, nós comemos uma maçã.
Nós estamos prontos.
O meu irmão visita a cidade amanhã.
Nós não lemos um livro amanhã.
Hoje, Pedro escreve uma carta.
Os meus pais compram pão na loja da esquina.
Ana está doente esta noite.
As crianças leem o jornal no trem?
Ana lê as cartas agora.
Pedro escreve um poema esta noite.
O meu irmão precisa de um carro agora.
Nós procuramos um apartamento no parque.
Todos os dias, a minha irmã abre a loja.
Nós não precisamos de dinheiro.
A minha irmã não vê um filme amanhã.
Nós precisamos de ajuda hoje.
O meu irmão está ocupado esta noite.
Ana não compra pão todos os dias.
As vizinhas escrevem um e-mail em casa?
Pedro vê a televisão no cinema.
Aos domingos, os meus pais precisam de dinheiro.
A minha irmã abre a porta?
A minha irmã vê o mar.
Pedro está ocupado.
A professora cozinha legumes em casa.
Esta noite, a minha irmã procura as chaves.
Todos os dias, a minha irmã come sopa.
Agora, as vizinhas abrem a porta.
Ana precisa de um carro?
As vizinhas abrem a loja de manhã.
Pedro cozinha massa em casa?
O médico compra pão na loja da esquina.
Esta noite, a minha irmã lê um livro.
As crianças precisam de dinheiro.
O meu irmão não cozinha o jantar todos os dias.
De manhã, Ana escreve uma carta.
Ana lê um romance.
O médico visita a minha avó?
As vizinhas não comem arroz.
Esta noite, eu vejo o mar.
Pedro não vê o mar.
A professora lê um romance na biblioteca.
Pedro abre a porta.
Nós comemos peixe.
Pedro não lê as cartas de manhã.
De manhã, a professora escreve a lista de compras.
Todos os dias, os meus amigos visitam a cidade.
O meu irmão cozinha legumes em casa.
As vizinhas visitam o museu de manhã.
Eu não leio um livro hoje.
As crianças procuram um apartamento?
A professora está cansada esta noite.
Ana visita a cidade.
Eu abro a loja.
Amanhã, eu bebo suco de laranja.
Os meus amigos leem um romance?
Nós estamos prontos amanhã.
A minha irmã come pão com queijo em casa.
O médico não compra fruta amanhã.
Todos os dias, nós vemos a televisão.
A professora não procura trabalho.
Eu procuro um apartamento na cidade esta noite.
Todos os dias, o médico procura um apartamento.
As crianças abrem a janela amanhã.
Nós não visitamos o museu.
A professora visita a cidade.
Os meus pais precisam de dinheiro amanhã.
A minha irmã não procura trabalho.
As vizinhas precisam de um carro.
Os meus amigos abrem a loja?
As vizinhas veem um filme?
Pedro bebe água esta noite.
Todos os dias, as vizinhas bebem água.
A minha irmã come arroz esta noite.
Os meus pais estão prontos.
As crianças leem as cartas de manhã.
Hoje, o médico procura o gato.
Todos os dias, eu vejo um filme.
A minha irmã vê um filme.
Ana está doente aos domingos.
Os meus amigos escrevem a lista de compras de manhã.
Aos domingos, os meus pais compram flores para a festa.
Pedro está doente.
As vizinhas compram um livro novo agora.
Os meus pais comem sopa?
O médico não come arroz todos os dias.
A professora está pronta de manhã.
Ana está contente amanhã.
As vizinhas compram leite todos os dias.
Os meus pais não escrevem um poema.
Pedro não bebe água de manhã.
A minha irmã procura as chaves.
Os meus pais escrevem um e-mail em casa?
A minha irmã abre a janela.
Esta noite, as crianças leem as cartas.
As crianças estão preocupadas todos os dias.
Eu preciso de mais tempo de manhã.
Esta noite, Ana procura um apartamento.
A minha irmã está cansada amanhã.
As vizinhas estão prontas.
Eu não abro a porta agora.
A professora está cansada.
A minha irmã visita o museu?
Esta noite, os meus pais veem um filme.
As crianças estão contentes.
Pedro lê as cartas em casa?
Os meus amigos estão ocupados.
Nós lemos um livro todos os dias.
Ana não cozinha massa.
Eu escrevo um e-mail.
Os meus pais estão ocupados.
Eu cozinho massa em casa?
Aos domingos, o médico procura as chaves.
Os meus amigos não bebem água.
Ana compra pão no mercado?
Nós estamos cansados.
Eu procuro o gato?
Os meus pais escrevem a lista de compras?
Amanhã, Pedro escreve uma carta.
A minha irmã vê a televisão hoje.
Os meus amigos estão cansados esta noite.
Os meus pais estão preocupados todos os dias.
O meu irmão está cansado agora.
O médico procura trabalho aos domingos.
A minha irmã vê a televisão no cinema?
Amanhã, eu procuro as chaves.
Agora, nós cozinhamos o jantar.
A minha irmã não procura um apartamento.
Todos os dias, os meus amigos leem as cartas.
O meu irmão lê um livro todos os dias.
Os meus amigos procuram as chaves no parque?
A minha irmã compra um livro novo.
Eu não escrevo a lista de compras de manhã.
O meu irmão precisa de ajuda?
As crianças não cozinham massa de manhã.
Nós precisamos de dinheiro?
O médico come pão com queijo na cozinha.
A minha irmã não precisa de ajuda.
As vizinhas estão ocupadas.
Eu abro a porta agora.
Eu visito a minha avó?
O meu irmão procura trabalho.
Os meus amigos visitam a cidade hoje.
A minha irmã não abre a loja.
A minha irmã visita a minha avó.
As crianças procuram as chaves na cidade?
Ana come peixe?
As crianças não bebem suco de laranja hoje.
As crianças compram um presente no mercado hoje.
Ana abre a janela.
O meu irmão está pronto agora.
Pedro compra flores para a festa na loja da esquina amanhã.
A professora não abre a porta.
Os meus pais não procuram as chaves.
Nós não precisamos de dinheiro amanhã.
Agora, Pedro cozinha o jantar.
O médico abre a porta de manhã.
De manhã, Pedro visita o museu.
Eu bebo suco de laranja no bar?
Pedro está preocupado esta noite.
Nós não bebemos café.
As crianças não escrevem uma carta todos os dias.
Ana vê a televisão.
O médico bebe leite quente no bar?
Hoje, o médico abre a porta.
O médico está preocupado todos os dias.
O meu irmão cozinha massa em casa aos domingos.
Eu abro a janela todos os dias.
As crianças escrevem um poema?
Pedro está doente todos os dias.
Amanhã, Ana abre a loja.
As vizinhas abrem a porta?
Pedro procura o gato aos domingos.
O meu irmão visita o museu?
As crianças cozinham legumes de manhã.
Os meus pais comem sopa hoje.
As vizinhas cozinham o jantar em casa.
As vizinhas veem o mar em casa?
As vizinhas não escrevem a lista de compras amanhã.
Os meus amigos abrem a janela?
Os meus amigos estão contentes.
De manhã, a minha irmã abre a porta.
Todos os dias, nós visitamos a cidade.
A minha irmã precisa de dinheiro de manhã.
Pedro lê as cartas na biblioteca aos domingos.
As crianças leem as notícias.
Amanhã, nós escrevemos um e-mail.
Aos domingos, a minha irmã escreve um e-mail.
O meu irmão vê o mar.
Nós comemos arroz no restaurante amanhã.
De manhã, eu visito o museu.
De manhã, eu compro flores para a festa.
As crianças estão preocupadas hoje.
Os meus amigos procuram trabalho?
A professora está contente.
O médico come arroz em casa?
O meu irmão lê as notícias?
Ana precisa de dinheiro.
As vizinhas veem a televisão?
Pedro não cozinha o jantar hoje.
Os meus amigos não veem um filme todos os dias.
Todos os dias, Ana precisa de mais tempo.
As vizinhas escrevem uma carta em casa?
A minha irmã procura um apartamento todos os dias.
O meu irmão não visita a cidade aos domingos.
Esta noite, as crianças cozinham o jantar.
O médico não vê um filme.
O meu irmão está preocupado.
A professora precisa de ajuda?
Todos os dias, eu preciso de ajuda.
Ana bebe água no bar.
Eu preciso de ajuda?
As crianças cozinham o jantar em casa.
As crianças precisam de ajuda amanhã.
Pedro precisa de um carro aos domingos.
Eu cozinho massa em casa agora.
Nós não visitamos o museu hoje.
O meu irmão lê as notícias na biblioteca esta noite.
A professora cozinha legumes em casa hoje.
De manhã, as vizinhas veem um filme.
Nós bebemos suco de laranja?
O médico precisa de ajuda todos os dias.
A professora está preocupada.
Pedro não compra flores para a festa hoje.
Amanhã, nós comemos pão com queijo.
Nós bebemos café no bar de manhã.
A minha irmã abre a loja?
O médico abre a loja hoje.
Eu procuro um apartamento.
Pedro está preocupado.
Ana não visita a minha avó.
Os meus amigos abrem a loja de manhã.
Os meus pais não cozinham massa de manhã.
As crianças veem um filme em casa?
Hoje, a professora compra pão.
Nós visitamos a minha avó.
Os meus amigos estão preocupados esta noite.
Os meus pais procuram o gato?
Os meus amigos procuram o gato na cidade aos domingos.
A professora lê um romance.
Os meus amigos não comem uma maçã hoje.
O meu irmão não precisa de um carro esta noite.
Os meus pais bebem leite quente.
Os meus amigos não leem o jornal esta noite.
Eu não como pão com queijo todos os dias.
As vizinhas compram fruta de manhã.
Os meus amigos procuram um apartamento no parque?
Aos domingos, o médico come pão com queijo.
Ana está contente todos os dias.
Eu bebo chá verde?
Aos domingos, o meu irmão abre a porta.
As vizinhas compram pão no mercado hoje.
Pedro come arroz.
O médico procura um apartamento hoje.
Os meus amigos não compram fruta agora.
O médico procura um apartamento no parque aos domingos.
O meu irmão escreve uma carta?
As crianças bebem suco de laranja na cozinha?
Os meus amigos não comem peixe amanhã.
As crianças não veem o mar.
Ana está pronta amanhã.
Ana não bebe chá verde agora.
O meu irmão está ocupado todos os dias.
Ana compra pão?
O meu irmão bebe chá verde todos os dias.
O meu irmão precisa de um carro?
As crianças veem o mar no cinema esta noite.
Eu estou cansado esta noite.
O meu irmão visita a cidade?
De manhã, Pedro precisa de mais tempo.
Ana abre a porta esta noite.
Ana bebe leite quente no bar.
O médico lê um romance hoje.
Ana abre a porta?
A professora vê o mar em casa.
Eu bebo leite quente na cozinha?
O médico bebe café.
A professora precisa de dinheiro.
Esta noite, as crianças visitam o museu.
O médico compra um presente no mercado.
Os meus amigos precisam de dinheiro.
De manhã, o meu irmão bebe água.
O meu irmão compra um presente aos domingos.
A minha irmã está pronta.
Eu compro leite amanhã.
Os meus pais não bebem leite quente de manhã.
As crianças bebem chá verde.
Os meus amigos visitam a minha avó?
Eu vejo a televisão de manhã.
Nós não escrevemos a lista de compras.
As vizinhas estão doentes.
Esta noite, Pedro precisa de um carro.
A professora precisa de dinheiro?
A minha irmã abre a janela de manhã.
Os meus amigos estão prontos esta noite.
Os meus amigos compram um presente na loja da esquina?
O meu irmão não compra fruta agora.
Eu como peixe esta noite.
O médico não compra um presente hoje.
A minha irmã escreve um e-mail em casa agora.
As crianças não precisam de ajuda agora.
As crianças abrem a porta.
Pedro come uma maçã na cozinha.
As crianças abrem a porta agora.
Eu compro flores para a festa.
Aos domingos, a minha irmã abre a janela.
Os meus pais visitam a minha avó.
A minha irmã procura trabalho na cidade todos os dias.
Os meus pais leem um livro.
O médico abre a loja.
Os meus pais não bebem leite quente agora.
Os meus pais leem as cartas esta noite.
Pedro escreve um poema de manhã.
O meu irmão está cansado.
A minha irmã lê um livro no trem todos os dias.
Aos domingos, a professora compra fruta.
Eu compro leite?
As vizinhas escrevem a lista de compras no escritório aos domingos.
A minha irmã abre a janela?
De manhã, as crianças bebem água.
O médico não escreve um e-mail.
Os meus pais compram leite.
O médico bebe café hoje.
Eu procuro um apartamento no parque?
A professora escreve a lista de compras em casa.
Aos domingos, o meu irmão procura o gato.
Os meus amigos estão preocupados de manhã.
A professora bebe suco de laranja amanhã.
A minha irmã bebe água na cozinha?
Todos os dias, os meus amigos escrevem um poema.
As vizinhas veem o mar?
Os meus pais cozinham massa.
Todos os dias, as vizinhas precisam de mais tempo.
Eu estou contente aos domingos.
Pedro cozinha o jantar hoje.
As crianças procuram as chaves?
O médico vê o mar aos domingos.
Os meus pais comem pão com queijo esta noite.
As vizinhas estão contentes agora.
As vizinhas estão doentes de manhã.
Eu não vejo a televisão esta noite.
Nós procuramos trabalho agora.
Ana não precisa de mais tempo.
A professora abre a loja todos os dias.
A professora cozinha massa?
A professora bebe chá verde esta noite.
Esta noite, nós vemos um filme.
Ana cozinha o jantar.
A professora não escreve a lista de compras.
Pedro procura as chaves no parque amanhã.
Pedro está doente esta noite.
As vizinhas precisam de ajuda?
O meu irmão compra um livro novo?
